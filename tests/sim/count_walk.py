"""s3-walk with the built-in `count` under simulation: its own bucket, drawn key limits,
listings that cost virtual time per key, page constants scaled to the bucket, planted bugs.

`count` does nothing per object: the walk counts a whole listed page in one step and moves its
cursor to the page's last key, so nothing passes through `tests.sim.tasks.work`. What a count
hop does to an object is list it, and then count it in the step that took its page. The
simulator therefore records each key a listing returns as that hop's work (`Sim.record`), and
the checks read it as they read an action's: I4 becomes "the committed cursor never covers a
key no hop listed", I6 "a hop's first listed key is the one after the cursor it claimed". The
promise users hold count to is I3, unchanged: in every committed version the `objects` and
`bytes` counters equal what the bucket holds below the committed cursor (in the walk's range),
so no page is counted twice and no key is passed over uncounted, whatever the faults.

The bucket is small (a schedule lists it many times), so the walk's page constants are scaled
down for count schedules (`scaled_pages`): pages of at most a dozen keys, as a bucket of tens of
thousands meets pages of a thousand. The walk reads them at every call, so the same code runs
at either scale. A listing costs `Config.list_ms_per_key` of virtual time per key it returns,
so a hop's window holds a few pages and a page can outlast what a hop has left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from baton.handler.tasks.builtin import s3_walk
from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.handler.tasks.framework.base import StepContext
from tests.sim.chooser import Chooser

COUNT_BUCKET = "sim-count"
# Prefixes and bounds a schedule's limits are drawn from: `data-backup/` sorts between `data`
# and `data/` (`-` before `/`), `data0` after `data/`, and `nothing/` holds no key at all.
PREFIXES = ("data/", "data", "data-backup/", "logs/", "nothing/")
BOUNDS = ("data/", "data-backup/", "data0", "data/sub/", "logs/", "m", "data/015", "data/sub0")


def count_keys() -> list[str]:
    """Neighbouring prefixes, a folder marker, keys beside them, spaces and unicode."""
    keys = ["+plus", "data", "data.txt", "data/", "data0", "zz"]
    keys += [f"data/{i:03d}" for i in range(30)]
    keys += [f"data/sub/{i}" for i in range(5)]
    keys += [f"data-backup/{i:03d}" for i in range(20)]
    keys += [f"logs/2026/12/{i:02d}.log" for i in range(20)]
    keys += [f"with space/{i}" for i in range(6)]
    keys += [f"ünï/{i}-日本" for i in range(6)]
    return keys


def size_of(i: int) -> int:
    """Every seventh object is empty: a zero-byte object still counts as one."""
    return 0 if i % 7 == 3 else (i * 61) % 700 + 1


def fill_bucket(s3: Any) -> dict[str, int]:
    """Create the count bucket; its objects' sizes by key."""
    s3.create_bucket(Bucket=COUNT_BUCKET)
    sizes: dict[str, int] = {}
    for i, key in enumerate(count_keys()):
        sizes[key] = size_of(i)
        s3.put_object(Bucket=COUNT_BUCKET, Key=key, Body=b"c" * sizes[key])
    return sizes


def draw_limits(c: Chooser, keys: list[str]) -> dict[str, str]:
    """A walk's key limits: none, a prefix, `start_after`, a shard's [start_at, end_before)
    (from the bucket's keys or the neighbours' bounds), or one side of one under a prefix."""
    kind = c.below(5)
    if kind == 0:
        return {}
    if kind == 1:
        return {"prefix": PREFIXES[c.below(len(PREFIXES))]}
    candidates = sorted({*keys, *BOUNDS}, key=str.encode)
    first = candidates[c.below(len(candidates))]
    if kind == 2:
        return {"start_after": first}
    second = candidates[c.below(len(candidates))]
    if kind == 3:
        if first == second:
            return {"start_at": first}
        low, high = sorted((first, second), key=str.encode)
        return {"start_at": low, "end_before": high}
    side = "start_at" if c.chance(0.5) else "end_before"
    return {"prefix": PREFIXES[c.below(2)], side: first}


@contextlib.contextmanager
def scaled_pages(max_keys: int | None) -> Iterator[None]:
    """s3-walk's page constants scaled to a bucket of tens of keys: at most `max_keys` per
    page, the floors a tenth of it (as 100 is of 1,000). None: the product's own."""
    names = ("MAX_KEYS", "MIN_PAGE_KEYS", "MIN_PREFETCH_KEYS")
    before = {name: getattr(s3_walk, name) for name in names}
    if max_keys is not None:
        floor = max(1, max_keys // 10)
        scaled = {"MAX_KEYS": max_keys, "MIN_PAGE_KEYS": floor, "MIN_PREFETCH_KEYS": floor}
        for name, value in scaled.items():
            setattr(s3_walk, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(s3_walk, name, value)


# ---------------------------------------------------------------------- planted count bugs

CountPage = Callable[[S3Walk, dict[str, Any], StepContext], bool]


def _counts_first_twice(walk: S3Walk, state: dict[str, Any], ctx: StepContext) -> bool:
    """count-twice: the page's first object is counted again (a hop counted twice, in part)."""
    objects = list(walk._buffer)
    walk._buffer.clear()
    counted = [objects[0], *objects]
    ctx.count("objects", len(counted))
    ctx.count("bytes", sum(obj.size for obj in counted))
    walk._done += len(objects)
    state["start_after"] = objects[-1].key
    return walk._listed_all


def _passes_last_uncounted(walk: S3Walk, state: dict[str, Any], ctx: StepContext) -> bool:
    """cursor-past-uncounted: the page's last object is left out of the counters, but the
    cursor moves to it (an off-by-one at the page's end)."""
    objects = list(walk._buffer)
    walk._buffer.clear()
    counted = objects[:-1]
    ctx.count("objects", len(counted))
    ctx.count("bytes", sum(obj.size for obj in counted))
    walk._done += len(objects)
    state["start_after"] = objects[-1].key
    return walk._listed_all


COUNT_BUGS: dict[str, CountPage] = {
    "count-twice": _counts_first_twice,
    "cursor-past-uncounted": _passes_last_uncounted,
}


@contextlib.contextmanager
def planted_count(bug: str | None) -> Iterator[None]:
    """Put a planted count bug in S3Walk's page step for one schedule (none: the real one)."""
    wrong = COUNT_BUGS.get(bug or "")
    real = S3Walk._count_page
    if wrong is not None:
        S3Walk._count_page = wrong  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3Walk._count_page = real  # type: ignore[method-assign]
