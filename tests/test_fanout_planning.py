"""The delimiter split plans in a bounded number of listings, whatever a prefix holds.

A prefix of 90 million keys and no deeper prefix is common (`logs/` flat, one object per event).
Listing it whole to look for deeper prefixes would take 90,000 pages inside one planning step,
past any Lambda timeout, every retry failing the same way. Discovery reads a bounded number of
pages per prefix, and the shards are the key ranges between the prefixes found, so every key still
falls into exactly one shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton.handler.launch import prepare
from baton.handler.observability import logger
from baton.handler.tasks.builtin import s3_fanout
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.framework.base import Resources
from tests.support.buckets import bucket_of

BUCKET = "flat-bucket"
FLAT = [f"hot/{i:05d}.log" for i in range(300)]
KEYS = ["a/1.log", "b/1.log", *FLAT, "hot/zz/1.log", "z/1.log", "z/2.log"]


@pytest.fixture
def s3() -> Iterator[Any]:
    with bucket_of(BUCKET, KEYS) as client:
        yield client


def plan(s3: Any, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """The fan-out's shards and how many ListObjectsV2 requests planning them took."""
    listed = [0]

    def count(**_: Any) -> None:
        listed[0] += 1

    s3.meta.events.register("before-call.s3.ListObjectsV2", count)
    spec = prepare(
        "s3-fanout",
        {"bucket": BUCKET, "split": "delimiter", **params},
        action_modules=(),
        now_ms=0,
    )
    task = FanOut(spec.params, Resources(s3=s3, action_modules=(), logger=logger))
    task.parent_id = "flat"
    return task.plan(), listed[0]


def covering(shard: dict[str, Any], key: str) -> bool:
    params = shard["params"]
    low, high = params.get("start_at"), params.get("end_before")
    return (low is None or key >= low) and (high is None or key < high)


def test_a_flat_prefix_is_not_listed_whole_to_plan_and_every_key_has_one_shard(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_fanout, "DISCOVERY_PAGE_SIZE", 10)
    monkeypatch.setattr(s3_fanout, "DISCOVERY_PAGES_PER_PREFIX", 3)
    shards, listed = plan(s3, shards=8)

    # The root (1 page), then a/, b/, hot/ and z/ one level down: hot/ holds 30 pages of keys
    # before its one deeper prefix, and is read 3 pages deep, not 31.
    assert listed <= 1 + 3 * 4, f"{listed} ListObjectsV2 requests to plan"
    for key in KEYS:
        holders = [s["id"] for s in shards if covering(s, key)]
        assert len(holders) == 1, f"{key} falls into {holders}"


def test_a_prefix_read_whole_within_the_bound_gives_its_deeper_prefixes(s3: Any) -> None:
    shards, _ = plan(s3, shards=8)

    starts = {s["params"].get("start_at") for s in shards}
    assert "hot/zz/" in starts, "a deeper prefix found within the bound is a cut point"
    for key in KEYS:
        assert sum(covering(s, key) for s in shards) == 1, key
