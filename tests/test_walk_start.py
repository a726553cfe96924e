"""A shard that starts at a key lists from that key: none of its neighbours' keys are listed.

ListObjectsV2 sorts `-` and `.` before `/`, so `data-backup/` lies between `data` and `data/`;
a shard starting at `data/` that listed from the shorter string `data` paged through all of
`data-backup/` before its first object, and at millions of keys no hop ever got there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.handler.observability import logger
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.framework.work_pool import ThreadWorkPool
from baton.handler.tasks.kit.key_order import MAX_KEY_BYTES, key_before
from tests.support.buckets import bucket_of

BUCKET = "neighbours"
# More of the neighbour's keys than one page (1,000) holds, so a listing that starts in them
# needs more than one call to get past them.
BACKUP = [f"data-backup/{i:04d}" for i in range(1_100)]
DATA = ["data/a", "data/b", "data/c"]
OTHERS = ["data.txt", "e1", "e2", "f"]
KEYS = sorted([*BACKUP, *DATA, *OTHERS])


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with bucket_of(BUCKET, KEYS) as client:
        yield client


class Listings:
    """Every ListObjectsV2 call the client sends, and the keys each returned (botocore's own
    event hooks: nothing is patched)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.returned: list[list[str]] = []
        self.client = client

    def __enter__(self) -> Listings:
        self.client.meta.events.register("provide-client-params.s3.ListObjectsV2", self._before)
        self.client.meta.events.register("after-call.s3.ListObjectsV2", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("provide-client-params.s3.ListObjectsV2", self._before)
        self.client.meta.events.unregister("after-call.s3.ListObjectsV2", self._after)

    def _before(self, params: Any, **_: Any) -> None:
        self.calls.append(params)

    def _after(self, parsed: Any, **_: Any) -> None:
        self.returned.append([item["Key"] for item in parsed.get("Contents", [])])


def resources(s3: Any) -> Resources:
    return Resources(s3=s3, action_modules=(), logger=logger, pools=ThreadWorkPool)


def walk_to_end(s3: Any, params: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """Run one shard's walk in one generous window; its counters and state."""
    walk = S3Walk(S3Walk.validate({"bucket": BUCKET, **params}, ()), resources(s3))
    started = time.monotonic()

    def remaining() -> int:
        return 600_000 - int((time.monotonic() - started) * 1000)

    counters: dict[str, int] = {}
    ctx = StepContext(counters, remaining, lambda: 300_000, logger)
    state = walk.start()
    try:
        for _ in range(10_000):
            if walk.step(state, ctx):
                return counters, state
    finally:
        walk.close()
    raise AssertionError("the walk did not end")


def planned_walks(s3: Any, **params: Any) -> list[dict[str, Any]]:
    fanout = FanOut(
        FanOut.validate({"bucket": BUCKET, "action": "count", **params}, ()), resources(s3)
    )
    fanout.parent_id = "p"
    return [shard["params"] for shard in fanout.plan()]


def in_shard(params: dict[str, Any]) -> list[str]:
    low, high = params.get("start_at"), params.get("end_before")
    return [k for k in KEYS if (low is None or k >= low) and (high is None or k < high)]


@pytest.mark.parametrize(
    "split",
    [
        {"split": "delimiter"},  # data-backup/ | data/: the neighbour sorts before the shard
        {"split": "ranges", "boundaries": ["data-backup/1"]},  # like logs/2024-07
        {"split": "ranges", "boundaries": ["e"]},  # one character: listed from the start before
    ],
    ids=["delimiter", "ranges", "one-character"],
)
def test_each_shard_lists_from_its_own_first_key(s3: Any, split: dict[str, Any]) -> None:
    walks = planned_walks(s3, **split)
    assert len(walks) >= 2
    seen: list[str] = []
    for params in walks:
        mine = in_shard(params)
        with Listings(s3) as listings:
            counters, state = walk_to_end(s3, params)
        assert counters["objects"] == len(mine), params
        assert state["start_after"] == (mine[-1] if mine else None)
        # The first listing starts at the shard's first key (a page past its end may follow).
        assert listings.returned[0][:1] == mine[:1], (params, listings.returned[0][:3])
        assert len(listings.calls) <= len(mine) // 1_000 + 2, (params, len(listings.calls))
        seen.extend(mine)
    assert sorted(seen) == KEYS, "every key in exactly one shard"


def test_the_data_shard_beside_a_large_backup_takes_one_listing(s3: Any) -> None:
    with Listings(s3) as listings:
        counters, _ = walk_to_end(s3, {"start_at": "data/", "action": "count"})
    assert counters["objects"] == len(DATA) + 3  # data/a..c, then e1, e2, f
    assert len(listings.calls) == 1
    assert listings.calls[0]["StartAfter"] == key_before("data/")


# ---------------------------------------------------------------------- the key arithmetic

# Keys S3 can list in XML: no surrogates, no U+FFFE / U+FFFF; short ones so neighbours collide.
key_chars = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff", max_codepoint=0x10FFFF
)
small_keys = st.text(alphabet=st.sampled_from("-./0a\x7f\u07ff\ufffd\U0010ffff"), max_size=4)


def utf8_order(a: str, b: str) -> bool:
    return a.encode() < b.encode()


@settings(max_examples=400, deadline=None)
@given(st.one_of(small_keys, st.text(key_chars, max_size=6)), st.text(key_chars, max_size=6))
def test_key_before_is_the_greatest_key_below(key: str, other: str) -> None:
    below = key_before(key)
    if below is None:
        assert key in ("", "\x00")
        return
    assert utf8_order(below, key)
    assert len(below.encode()) <= MAX_KEY_BYTES
    # Every key that sorts below `key` sorts at or below `below`: nothing is skipped.
    if utf8_order(other, key):
        assert not utf8_order(below, other)
    else:
        assert utf8_order(below, other)


@pytest.mark.parametrize(
    ("key", "head"),
    [
        ("data/", "data."),
        ("b", "a"),
        ("a\ue000", "a\ud7ff"),  # the code point below U+E000 is past the surrogates
        ("x\x00", None),
    ],
)
def test_key_before_steps_down_the_last_character(key: str, head: str | None) -> None:
    below = key_before(key)
    if head is None:
        assert below == key[:-1]
        return
    assert below is not None and below.startswith(head)
    assert len(below.encode()) == MAX_KEY_BYTES  # padded with the largest characters that fit
