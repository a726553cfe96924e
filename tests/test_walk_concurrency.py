"""s3-walk with objects in flight on a pool, listing prefetch, and pages sized to the window.

The promise under test: whatever order objects finish in, the cursor is the low watermark (the
last key before which every object is done) and the counters and action state are exactly
those of the objects below it; a crash re-runs only what was in flight or finished above it.
Slow objects are held on an Event the test controls, never on a sleep.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.handler.observability import logger
from baton.handler.tasks.builtin import s3_walk
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.handler.tasks.framework.base import JobFailure, Resources, StepContext
from baton.handler.tasks.framework.work_pool import ThreadWorkPool, wait_for
from baton.handler.tasks.kit.listing import Lister
from baton.store.codec import decode_state
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.sim.checks import plain
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.buckets import BucketTruth, fill_bucket
from tests.support.inprocess_stack import local_stack
from tests.support.lambda_sim import Killed

ALLOWED = ("tests.support.actions",)
GATED = "tests.support.actions:gated"
RECORD = "tests.support.actions:record"
HALF_DONE = "tests.support.actions:half_done"
STEPS = 100_000


class Bucket:
    """An in-memory ListObjectsV2 (Prefix, StartAfter, MaxKeys), safe to call from threads.

    `before_list[n]` runs before the n-th call (1-based) is answered: the bucket changes
    between pages at a point the test chooses, whatever thread makes the call."""

    def __init__(self, count: int, size: Callable[[int], int] = lambda i: i % 97 + 1) -> None:
        self.objects = {f"k{i:07d}": size(i) for i in range(count)}
        self.calls: list[dict[str, Any]] = []
        self.before_list: dict[int, Callable[[], None]] = {}
        self.watch: dict[str, int] | None = None
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        return sorted(self.objects)

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            number = len(self.calls) + 1
            done = dict(self.watch) if self.watch is not None else {}
            self.calls.append({**request, "objects_done": done.get("objects", 0)})
            change = self.before_list.get(number)
            if change is not None:
                change()
            after = request.get("StartAfter", "")
            chosen = [
                k for k in sorted(self.objects) if k > after and k.startswith(request["Prefix"])
            ]
            page = chosen[: request["MaxKeys"]]
            return {
                "Contents": [{"Key": k, "Size": self.objects[k], "ETag": '"e"'} for k in page],
                "IsTruncated": len(chosen) > len(page),
            }


class Clock:
    """Lambda's remaining time and a fixed work window. The remaining time runs down with real
    time (a step waits at most a slice of it) unless `manual`: then it moves only when told."""

    def __init__(
        self, remaining_ms: int = 600_000, window_ms: int = 300_000, *, manual: bool = False
    ) -> None:
        self.remaining = remaining_ms
        self.window = window_ms
        self.manual = manual
        self.started = time.monotonic()

    def remaining_ms(self) -> int:
        if self.manual:
            return self.remaining
        return self.remaining - int((time.monotonic() - self.started) * 1000)

    def work_window_ms(self) -> int:
        return self.window


def walk_of(bucket: Bucket, **params: Any) -> S3Walk:
    resources = Resources(
        s3=bucket,  # type: ignore[arg-type]
        action_modules=ALLOWED,
        logger=logger,
        pools=ThreadWorkPool,
    )
    return S3Walk(S3Walk.validate({"bucket": "paged", **params}, ALLOWED), resources)


def context(counters: dict[str, int], clock: Clock) -> StepContext:
    return StepContext(counters, clock.remaining_ms, clock.work_window_ms, logger)


def run_to_end(walk: S3Walk, state: dict[str, Any], ctx: StepContext) -> None:
    try:
        for _ in range(STEPS):
            if walk.step(state, ctx):
                return
        raise AssertionError(f"the walk did not end in {STEPS} steps")
    finally:
        walk.close()


def assert_watermark_view(state: dict[str, Any], counters: dict[str, int], bucket: Bucket) -> None:
    """Counters and action state cover exactly the keys up to the cursor (none failed here)."""
    cursor = state.get("start_after") or ""
    below = [k for k in sorted(bucket.objects) if k <= cursor]
    assert counters.get("objects", 0) == len(below)
    assert counters.get("recorded", 0) == len(below)
    assert counters.get("bytes", 0) == sum(bucket.objects[k] for k in below)
    assert state["action"].get("keys", []) == below
    assert state["action"].get("bytes", 0) == sum(bucket.objects[k] for k in below)


def seen_above(key: str) -> set[str]:
    with actions.finished:
        return {k for k in actions.seen if k > key}


@pytest.fixture(autouse=True)
def clean_actions() -> Iterator[None]:
    actions.reset()
    yield
    actions.reset()


# ---------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"concurrency": 0}, "concurrency must be a whole number from 1 to 64"),
        ({"concurrency": 65}, "concurrency must be a whole number from 1 to 64"),
        ({"concurrency": True}, "concurrency must be a whole number"),
        ({"concurrency": "8"}, "concurrency must be a whole number"),
        ({"action": "inventory", "concurrency": 2}, "inventory runs one object at a time"),
        ({"action": "duplicates", "concurrency": 4}, "duplicates runs one object at a time"),
    ],
)
def test_bad_concurrency_is_refused_with_the_reason(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidJob, match=problem):
        S3Walk.validate({"bucket": "b-1", **params}, ALLOWED)


def test_concurrency_defaults_by_action_and_reaches_every_shard() -> None:
    def chosen(**params: Any) -> int:
        return int(S3Walk.validate({"bucket": "b-1", **params}, ALLOWED)["concurrency"])

    assert chosen() == 1
    assert chosen(action="inventory") == 1
    assert chosen(action=RECORD) == 8
    assert chosen(action=RECORD, concurrency=32) == 32
    assert chosen(action="count", concurrency=4) == 4
    fanout = FanOut.validate({"bucket": "b-1", "action": RECORD, "concurrency": 16}, ALLOWED)
    parent = FanOut(fanout, Resources(s3=None, action_modules=ALLOWED, logger=logger))  # type: ignore[arg-type]
    assert parent._walk_params(start_at="a", end_before="b")["concurrency"] == 16


# ---------------------------------------------------------------------- exactness


@pytest.mark.parametrize("concurrency", [1, 4])
def test_under_skip_an_object_that_raised_contributes_nothing(concurrency: int) -> None:
    """An action that counts and records an object and then raises: under `on_error: skip` the
    object counts `failed` and nothing else, at concurrency 1 as on a pool."""
    bucket = Bucket(40)
    keys = bucket.keys()
    actions.fail_always.update([keys[2], keys[17], keys[39]])
    walk = walk_of(bucket, action=HALF_DONE, concurrency=concurrency, on_error="skip")
    state, counters = walk.start(), {}
    run_to_end(walk, state, context(counters, Clock()))
    good = [k for k in keys if k not in actions.fail_always]
    assert counters["failed"] == 3 and counters["objects"] == len(good)
    assert counters["touched"] == len(good), "a failed object's count is dropped"
    assert state["action"]["touched"] == good, "a failed object's state is dropped"


@pytest.mark.parametrize("concurrency", [2, 16, 64])
def test_concurrent_walk_ends_with_the_same_counters_and_state_as_one_at_a_time(
    concurrency: int,
) -> None:
    bucket = Bucket(700)
    keys = bucket.keys()
    actions.fail_always.update([*keys[3:9], keys[350], keys[699]])
    results = []
    for c in (1, concurrency):
        actions.seen.clear()
        walk = walk_of(bucket, action=GATED, concurrency=c, on_error="skip")
        state, counters = walk.start(), {}
        run_to_end(walk, state, context(counters, Clock()))
        results.append((state, counters))
    (one_state, one_counters), (many_state, many_counters) = results
    assert many_counters == one_counters
    assert many_state == one_state, "action state merged in key order, failures in key order"
    assert many_counters["failed"] == 8 and many_counters["objects"] == 692
    assert [f["key"] for f in many_state["failures"]] == sorted(actions.fail_always)
    assert many_state["action"]["keys"] == [k for k in keys if k not in actions.fail_always]
    assert many_state["start_after"] == keys[-1]


def test_on_error_fail_surfaces_the_first_failure_in_key_order() -> None:
    """A later object fails first; the earlier one, held on its gate, is the error reported,
    and nothing at or past it is counted."""
    bucket = Bucket(300)
    keys = bucket.keys()
    early, late = keys[50], keys[100]
    actions.fail_always.update({early, late})
    actions.gates[early] = threading.Event()
    walk = walk_of(bucket, action=GATED, concurrency=64, on_error="fail")
    state, counters = walk.start(), {}
    ctx = context(counters, Clock())
    try:
        while late not in actions.order:
            walk.step(state, ctx)
            assert_watermark_view(state, counters, bucket)
        assert state["start_after"] == keys[49], "the gated object holds the watermark"
        actions.gates[early].set()
        with pytest.raises(RuntimeError, match=f"failed on s3://paged/{early}: ValueError"):
            for _ in range(STEPS):
                walk.step(state, ctx)
    finally:
        walk.close()
    assert counters["objects"] == 50 and "failed" not in counters


def test_skip_counts_failures_exactly_and_max_failed_stops_in_key_order() -> None:
    bucket = Bucket(400)
    keys = bucket.keys()
    actions.fail_always.update(keys[100:110])
    walk = walk_of(bucket, action=GATED, concurrency=16, on_error="skip", max_failed=4)
    state, counters = walk.start(), {}
    with pytest.raises(JobFailure, match="5 objects failed, over max_failed 4"):
        run_to_end(walk, state, context(counters, Clock()))
    assert counters["failed"] == 5 and counters["objects"] == 100
    assert state["start_after"] == keys[103], "as one at a time: the fifth failure stops it"


def test_a_slow_object_holds_the_watermark_and_a_crash_reruns_only_what_was_above_it() -> None:
    bucket = Bucket(120)
    keys = bucket.keys()
    slow = keys[10]
    actions.gates[slow] = threading.Event()
    walk = walk_of(bucket, action=GATED, concurrency=8)
    state, counters = walk.start(), {}
    ctx = context(counters, Clock())
    # Objects past the slow one finish (the pool runs ahead, at most 4 per worker); each step
    # leaves the counters and state exactly at the watermark, just before the slow object.
    while len(seen_above(slow)) < 20:
        walk.step(state, ctx)
        assert_watermark_view(state, counters, bucket)
    assert state["start_after"] == keys[9]
    # The hop dies here: what the relay would have committed is the state as it is now.
    committed_state, committed_counters = copy.deepcopy(state), dict(counters)
    done_above = seen_above(slow)
    in_flight = {f.obj.key for f in walk._in_flight}
    assert len(in_flight) <= 4 * 8, "the pool runs at most 4 objects per worker ahead"
    walk.close()
    actions.gates[slow].set()  # the dead hop's worker may still finish it; nothing is kept

    again = walk_of(bucket, action=GATED, concurrency=8)
    run_to_end(again, committed_state, context(committed_counters, Clock()))
    assert_watermark_view(committed_state, committed_counters, bucket)
    assert committed_counters["objects"] == 120
    actions.wait_for(lambda: actions.seen[slow] == 2, "the dead hop's slow object to finish")
    with actions.finished:
        twice = {k for k, n in actions.seen.items() if n > 1}
        assert all(n <= 2 for n in actions.seen.values())
    # Re-run: what finished above the watermark, and at most what else was in flight.
    assert done_above | {slow} <= twice <= in_flight


def four_workers_busy_and_one_queued(
    bucket: Bucket,
) -> tuple[S3Walk, dict[str, Any], dict[str, int]]:
    """A walk at concurrency 4 fed once, as a step does first: its first four objects held on
    their gates by the four workers, the fifth queued behind them."""
    keys = bucket.keys()
    for key in keys[:4]:
        actions.gates[key] = threading.Event()
    walk = walk_of(bucket, action=GATED, concurrency=4)
    state, counters = walk.start(), {}
    walk._feed(state, context(counters, Clock()), fill=walk._pool_holds)
    assert [f.obj.key for f in walk._in_flight] == keys[:5], "4 workers and 1 queued"
    return walk, state, counters


def test_a_worker_that_finishes_takes_the_next_object_without_waiting_for_the_walk() -> None:
    """The pool holds a queue beyond its workers (one object per four workers, at least one),
    so a worker that finishes starts the next object itself: the walk's own thread, which
    competes with the workers for the interpreter lock, is not on the path between two
    objects."""
    bucket = Bucket(40)
    keys = bucket.keys()
    walk, _, counters = four_workers_busy_and_one_queued(bucket)
    try:
        assert walk._pool is not None and walk._pool.pending() == 5
        actions.gates[keys[0]].set()
        # The walk's thread does nothing from here: the freed worker takes keys[4] itself.
        actions.wait_for(lambda: actions.seen[keys[4]] == 1, "the queued object to run")
        assert counters == {}, "nothing is merged until the walk's thread steps"
    finally:
        for key in keys[:4]:
            actions.gates[key].set()
        walk.close()


def test_the_pool_tells_the_walk_when_work_settles_without_watching_each_future() -> None:
    pool = ThreadWorkPool(2)
    gate = threading.Event()
    try:
        seen = pool.settled()
        pool.wait_settled(seen, None)  # nothing pending: returns at once
        held = pool.submit(lambda: gate.wait(actions.GATE_TIMEOUT_S))
        failing = pool.submit(lambda: 1 // 0)
        wait_for(pool, failing)
        assert pool.settled() == seen + 1 and pool.pending() == 1
        pool.wait_settled(pool.settled(), 0.05)  # nothing settles: the timeout ends it
        assert not held.done() and pool.pending() == 1
        gate.set()
        wait_for(pool, held)
        assert pool.settled() == seen + 2 and pool.pending() == 0
    finally:
        gate.set()
        pool.close()


def test_an_item_that_settles_before_the_wait_begins_is_not_waited_for() -> None:
    """The walk reads `seen`, feeds and merges, then waits: an item settling in between (a
    lost wake-up) must end the wait at once, though other work is still pending."""
    pool = ThreadWorkPool(2)
    gate = threading.Event()
    try:
        pool.submit(lambda: gate.wait(actions.GATE_TIMEOUT_S))  # keeps something pending
        seen = pool.settled()
        quick = pool.submit(lambda: None)
        wait_for(pool, quick)  # settles after `seen` was read, before the wait below
        waiter = threading.Thread(target=pool.wait_settled, args=(seen, None), daemon=True)
        waiter.start()
        waiter.join(actions.GATE_TIMEOUT_S / 2)  # the held item ends only after the gate
        assert not waiter.is_alive(), "wait_settled slept past an item settled since `seen`"
        assert pool.pending() == 1
    finally:
        gate.set()
        pool.close()


def test_a_cancelled_or_killed_item_settles_and_close_cancels_only_what_never_started() -> None:
    """Every way an item ends moves the counter, so a waiter never sleeps past it: a queued
    item the caller cancels, the queue that close() cancels (running work is abandoned, still
    pending), and an item whose sandbox died mid-work (a BaseException)."""
    pool = ThreadWorkPool(1)
    gate = threading.Event()
    try:
        held = pool.submit(lambda: gate.wait(actions.GATE_TIMEOUT_S))
        queued = pool.submit(lambda: 1)
        seen = pool.settled()
        assert queued.cancel() and pool.settled() == seen + 1 and pool.pending() == 1
        pool.wait_settled(seen, actions.GATE_TIMEOUT_S)  # returns: one settled since `seen`
        again, seen = pool.submit(lambda: 2), pool.settled()
        pool.close()
        assert again.cancelled() and pool.settled() == seen + 1
        assert not held.done() and pool.pending() == 1, "running work is abandoned, not ended"
        gate.set()
        wait_for(pool, held)
        assert pool.pending() == 0
    finally:
        gate.set()
        pool.close()

    def killed() -> None:
        raise Killed("the sandbox died mid-object")

    pool = ThreadWorkPool(1)
    try:
        dead = pool.submit(killed)
        wait_for(pool, dead)
        assert isinstance(dead.exception(), Killed) and pool.pending() == 0
        after = pool.submit(lambda: 3)
        wait_for(pool, after)
        assert after.result() == 3 and pool.settled() == 2, "the worker survived it"
    finally:
        pool.close()


def test_objects_queued_at_hop_end_never_start_and_the_next_hop_runs_each_once() -> None:
    """close() cancels the objects queued behind the workers (they never ran) and abandons the
    running ones; the next hop, from the committed cursor, runs every object, the counters
    exact."""
    bucket = Bucket(40)
    keys = bucket.keys()
    walk, state, counters = four_workers_busy_and_one_queued(bucket)
    flights = list(walk._in_flight)
    committed_state, committed_counters = copy.deepcopy(state), dict(counters)
    pool = walk._pool
    assert pool is not None
    walk.close()  # the hop ends with every worker busy and one object queued
    assert flights[4].future.cancelled(), "the queued object never starts"
    assert not any(f.future.cancelled() for f in flights[:4])
    assert pool.pending() == 4, "the running objects are abandoned, not waited for"
    for key in keys[:4]:
        actions.gates[key].set()

    again = walk_of(bucket, action=GATED, concurrency=4)
    run_to_end(again, committed_state, context(committed_counters, Clock()))
    assert_watermark_view(committed_state, committed_counters, bucket)
    assert committed_counters["objects"] == 40
    for flight in flights[:4]:
        wait_for(pool, flight.future)  # the dead hop's running objects end, their work unused
    with actions.finished:
        assert {k for k, n in actions.seen.items() if n > 1} == set(keys[:4])
        assert actions.seen[keys[4]] == 1 and set(actions.seen) == set(keys)


def test_near_the_margin_the_queue_goes_first_then_the_workers() -> None:
    """A queued object starts up to one object's time after it is queued, then runs as long:
    the queue is kept only while the window holds twice that, the workers while it holds twice
    one object's time, and past that the pool drains (an empty pool still takes one)."""
    walk = walk_of(Bucket(10), action=GATED, concurrency=16)
    one_object_ms = 10 * 16  # 10 ms per object while 16 run at once
    assert walk._pool_holds == 20  # 16 workers and a queue of 4
    assert walk._fill(4 * one_object_ms + 1, 10) == 20
    assert walk._fill(4 * one_object_ms, 10) == 16
    assert walk._fill(2 * one_object_ms + 1, 10) == 16
    assert walk._fill(2 * one_object_ms, 10) == 0
    assert walk._fill(1_000, None) == 20  # nothing measured yet: the window decides alone
    assert walk._fill(0, None) == 0


def test_the_budget_stops_feeding_the_pool_so_it_drains_before_the_margin() -> None:
    """Without room for one more object in the window, nothing new is submitted while objects
    are in flight, and a step returns at once instead of waiting: the relay then hands off."""
    bucket = Bucket(60)
    keys = bucket.keys()
    held = keys[2]
    actions.gates[held] = threading.Event()
    walk = walk_of(bucket, action=GATED, concurrency=4)
    state, counters = walk.start(), {}
    clock = Clock()
    ctx = context(counters, clock)
    try:
        assert walk.step(state, ctx) is False  # the first step waits for the first object
        assert 1 <= counters["objects"] <= 2
        clock.window = 0
        in_flight = {f.obj.key for f in walk._in_flight}
        assert held in in_flight
        for _ in range(20):
            assert walk.step(state, ctx) is False
            assert {f.obj.key for f in walk._in_flight} <= in_flight, "nothing new submitted"
            assert_watermark_view(state, counters, bucket)
        actions.gates[held].set()
        actions.wait_for(lambda: in_flight <= set(actions.seen), "the pool to drain")
        walk.step(state, ctx)
        assert not walk._in_flight, "drained"
        assert state["start_after"] == max(in_flight)
        assert_watermark_view(state, counters, bucket)
    finally:
        walk.close()


# ---------------------------------------------------------------------- prefetch


def test_the_next_page_is_listed_while_this_one_is_worked_and_the_cursor_stays_exact() -> None:
    bucket = Bucket(3_000)
    walk = walk_of(bucket, action=RECORD, concurrency=1)
    state, counters = walk.start(), {}
    bucket.watch = counters
    removed_listed, removed_unlisted = "k0000500", "k0002600"

    def change() -> None:
        # Answering page 2 (requested while page 1 is worked): keys appear and vanish.
        bucket.objects["k0002500a"] = 7  # ahead of every listing: will be walked
        bucket.objects["k0000005a"] = 7  # behind the listing: never walked
        del bucket.objects[removed_listed]  # already listed on page 1: walked anyway
        del bucket.objects[removed_unlisted]  # on page 3, not listed yet: never walked

    requested = threading.Event()
    bucket.before_list[2] = lambda: (change(), requested.set())
    # Page 1's last object waits until page 2 has been requested: without a prefetch, never.
    actions.hooks["k0000999"] = lambda: prefetched(requested)
    run_to_end(walk, state, context(counters, Clock()))
    assert bucket.calls[1]["objects_done"] < 1_000, "page 2 was requested during page 1"
    walked = actions.order
    assert walked == sorted(walked) and len(walked) == len(set(walked)), "in order, once each"
    expected = {f"k{i:07d}" for i in range(3_000)} - {removed_unlisted} | {"k0002500a"}
    assert set(walked) == expected
    assert counters["objects"] == counters["recorded"] == len(expected)
    assert state["start_after"] == "k0002999"


def prefetched(requested: threading.Event) -> None:
    if not requested.wait(30):
        raise AssertionError("page 2 was not requested while page 1 was worked")


def test_a_prefetched_page_is_never_used_by_the_next_hop() -> None:
    bucket = Bucket(2_500)
    walk = walk_of(bucket, action=RECORD, concurrency=1)
    state, counters = walk.start(), {}
    ctx = context(counters, Clock())
    requested = threading.Event()
    bucket.before_list[2] = requested.set
    actions.hooks["k0000100"] = lambda: prefetched(requested)
    for _ in range(300):
        walk.step(state, ctx)
    walk.close()  # the hop ends with page 2 requested ahead
    assert len(bucket.calls) == 2
    cursor = state["start_after"]
    assert cursor == "k0000299"
    again = walk_of(bucket, action=RECORD, concurrency=1)
    again.step(state, ctx)
    again.close()
    assert bucket.calls[2]["StartAfter"] == cursor, "the new hop lists from its own cursor"


# ---------------------------------------------------------------------- page sizes


def test_pages_are_sized_to_the_window_once_the_hop_has_measured_an_object() -> None:
    """10 ms per object and a 250 ms window: pages of 12 keys (half the window's worth, so a
    listing twice as slow as measured still fits), not 1,000."""
    bucket = Bucket(2_400)
    clock = Clock(window_ms=250, manual=True)

    def cost() -> None:
        clock.remaining -= 10

    actions.on_each.append(cost)
    walk = walk_of(bucket, action=RECORD, concurrency=1)
    state, counters = walk.start(), {}
    run_to_end(walk, state, context(counters, clock))
    sizes = [c["MaxKeys"] for c in bucket.calls]
    assert sizes[:2] == [1_000, 1_000], "nothing measured yet: the window alone"
    share = max(250 // (10 * s3_walk.PAGE_SLACK), s3_walk.MIN_PAGE_KEYS)
    assert set(sizes[2:]) == {share}, "then the window's share, at least MIN_PAGE_KEYS"
    assert counters["objects"] == 2_400


def test_a_per_object_time_carried_from_earlier_hops_sizes_the_first_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_walk, "carried_object_ms", lambda ctx: 10.0)
    bucket = Bucket(400)
    clock = Clock(window_ms=250, manual=True)
    actions.on_each.append(lambda: setattr(clock, "remaining", clock.remaining - 10))
    walk = walk_of(bucket, action=RECORD, concurrency=1)
    state, counters = walk.start(), {}
    run_to_end(walk, state, context(counters, clock))
    sizes = [c["MaxKeys"] for c in bucket.calls]
    share = max(250 // (10 * s3_walk.PAGE_SLACK), s3_walk.MIN_PAGE_KEYS)
    assert set(sizes) == {share}
    assert counters["objects"] == 400


def test_a_page_sized_to_the_window_is_reported_as_a_sized_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first page's 30 ms wait: reported to the budget as sized (not held in the hand-off
    margin) only when the page was sized from a measured per-object time."""
    for carried, sized in ((None, 0), (10.0, 30)):
        monkeypatch.setattr(s3_walk, "carried_object_ms", lambda ctx, c=carried: c)
        bucket = Bucket(400)
        clock = Clock(window_ms=2_500, manual=True)
        bucket.before_list[1] = lambda clock=clock: setattr(  # type: ignore[misc]
            clock, "remaining", clock.remaining - 30
        )
        walk = walk_of(bucket, action=RECORD, concurrency=1)
        state, counters = walk.start(), {}
        ctx = context(counters, clock)
        walk.step(state, ctx)
        walk.close()
        assert ctx.sized_ms == sized


def prefetches_asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The MaxKeys of every page the walk requests ahead, recorded as it asks."""
    ahead: list[int] = []
    prefetch = Lister.prefetch
    monkeypatch.setattr(
        Lister,
        "prefetch",
        lambda self, after, keys: (ahead.append(keys), prefetch(self, after, keys)),
    )
    return ahead


def test_no_page_is_requested_ahead_when_it_could_not_hold_a_useful_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1 ms per object, 300 ms of window, a 150-key page: when its listing took 30 ms, 60 keys'
    worth of window is left behind it and a page is requested ahead; when it took 130 ms only
    10 keys' worth is, under a quarter of a page, and none is (it would cost its round trip
    and likely never be used before the hand-off)."""
    monkeypatch.setattr(s3_walk, "carried_object_ms", lambda ctx: 1.0)
    ahead = prefetches_asked(monkeypatch)
    for list_ms, expected in ((30, [s3_walk.MIN_PAGE_KEYS]), (130, [])):
        ahead.clear()
        bucket = Bucket(2_000)
        clock = Clock(remaining_ms=10_000, manual=True)
        bucket.before_list[1] = lambda clock=clock, ms=list_ms: setattr(  # type: ignore[misc]
            clock, "remaining", clock.remaining - ms
        )
        ctx = StepContext(
            {}, clock.remaining_ms, lambda clock=clock: clock.remaining - 9_700, logger
        )
        walk = walk_of(bucket, action=RECORD, concurrency=1)
        walk.step(walk.start(), ctx)
        walk.close()
        assert bucket.calls[0]["MaxKeys"] == 150 and ahead == expected


def test_count_lists_its_next_page_sized_to_the_window_not_a_whole_page_asked_blind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No measurement yet: the first page is a whole 1,000 keys, listed in 600 ms of a 1,000 ms
    window. A per-object action asks for another whole page ahead (its objects' time lets it
    arrive); count, which takes the page in one step, would wait for all of it in its next step
    with 400 ms left, so it asks for none and lists its next page sized to what is left: 0.6 ms
    a key, half the window's worth, 333 keys."""
    ahead = prefetches_asked(monkeypatch)
    for action, expected in ((RECORD, [s3_walk.MAX_KEYS]), ("count", [])):
        ahead.clear()
        bucket = Bucket(3_000)
        clock = Clock(remaining_ms=10_000, manual=True)
        bucket.before_list[1] = lambda clock=clock: setattr(  # type: ignore[misc]
            clock, "remaining", clock.remaining - 600
        )
        ctx = StepContext(
            {}, clock.remaining_ms, lambda clock=clock: clock.remaining - 9_000, logger
        )
        walk = walk_of(bucket, action=action, concurrency=1)
        state = walk.start()
        walk.step(state, ctx)
        assert bucket.calls[0]["MaxKeys"] == s3_walk.MAX_KEYS and ahead == expected, action
        if action == "count":
            walk.step(state, ctx)
            assert bucket.calls[1]["MaxKeys"] == 333
            assert ctx.counters["objects"] == 1_333 and state["start_after"] == "k0001332"
        walk.close()


def test_count_asks_for_its_next_page_ahead_sized_from_its_first_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No measurement yet, and a window of 9 s: the first 1,000 keys take 100 ms to list, so a
    key costs 0.1 ms and the window left holds a whole page. Count asks for it ahead at once (as
    the plain loop does), so its second page's listing overlaps its first page's step; asked
    for blind, before any listing was timed, it could outrun a short window."""
    ahead = prefetches_asked(monkeypatch)
    bucket = Bucket(3_000)
    clock = Clock(remaining_ms=10_000, manual=True)
    bucket.before_list[1] = lambda: setattr(clock, "remaining", clock.remaining - 100)
    ctx = StepContext({}, clock.remaining_ms, lambda: clock.remaining - 1_000, logger)
    walk = walk_of(bucket, action="count", concurrency=1)
    state = walk.start()
    walk.step(state, ctx)
    assert ahead == [s3_walk.MAX_KEYS], "the second page is asked for with the first one's step"
    assert ctx.counters["objects"] == 1_000 and state["start_after"] == "k0000999"
    walk.step(state, ctx)
    assert bucket.calls[1]["StartAfter"] == "k0000999" and ahead == [s3_walk.MAX_KEYS] * 2
    assert ctx.counters["objects"] == 2_000 and state["start_after"] == "k0001999"
    walk.close()


def test_count_drops_its_page_ahead_at_a_hop_end_and_the_next_hop_counts_from_its_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Count's first step now asks for its next page ahead (sized from its first listing). The
    hop ends right after that step with the page ahead still listing: the hand-off does not wait
    for it, and the next hop lists from its committed cursor, not from the dropped page, so a key
    that appeared just past the cursor meanwhile is counted and every key is counted once."""
    ahead = prefetches_asked(monkeypatch)
    bucket = Bucket(2_500)
    clock = Clock(remaining_ms=10_000, manual=True)
    bucket.before_list[1] = lambda: setattr(clock, "remaining", clock.remaining - 100)
    listing, release = threading.Event(), threading.Event()
    bucket.before_list[2] = lambda: (listing.set(), release.wait(10))
    counters: dict[str, int] = {}
    ctx = StepContext(counters, clock.remaining_ms, lambda: clock.remaining - 1_000, logger)
    walk = walk_of(bucket, action="count", concurrency=1)
    state = walk.start()
    try:
        walk.step(state, ctx)
        assert listing.wait(5) and ahead == [s3_walk.MAX_KEYS], "the page ahead is listing"
        started = time.monotonic()
        walk.close()  # the hop hands off here
        assert time.monotonic() - started < 1, "the hand-off waited for the page ahead"
    finally:
        release.set()
    assert state["start_after"] == "k0000999" and counters["objects"] == 1_000
    bucket.objects["k0000999+"] = 7  # appears after the hand-off, just past the cursor
    again = walk_of(bucket, action="count", concurrency=1)
    run_to_end(again, state, context(counters, Clock()))
    assert bucket.calls[2]["StartAfter"] == "k0000999", "the new hop lists from its own cursor"
    assert counters == {"objects": 2_501, "bytes": sum(bucket.objects.values())}


def test_a_per_object_time_inflated_by_round_trips_does_not_shrink_pages_to_one_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen under load: a first hop that did one object in 2.8 s handed on 2,770 ms per object;
    pages sized from it held one key, whose round trip kept the per-object time high, hop
    after hop. A page asked for while time is left holds at least MIN_PAGE_KEYS keys."""
    monkeypatch.setattr(s3_walk, "carried_object_ms", lambda ctx: 2_770.0)
    bucket = Bucket(1_000)
    clock = Clock(window_ms=2_500, manual=True)
    walk = walk_of(bucket, action=RECORD, concurrency=1)
    walk.step(walk.start(), context({}, clock))
    walk.close()
    assert bucket.calls[0]["MaxKeys"] == s3_walk.MIN_PAGE_KEYS


# ---------------------------------------------------------------------- through the relay


class WatermarkAudit:
    """Every job-item write DynamoDB applied (its ALL_NEW answer, seen by a botocore hook):
    the counters must be exactly those of the keys up to the committed cursor."""

    def __init__(self, truth: BucketTruth) -> None:
        self.order = sorted(truth.sizes, key=lambda k: k.encode())
        self.sizes = truth.sizes
        self.checked = 0
        self.wrong: list[str] = []

    def __call__(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        item = plain(parsed.get("Attributes", {}))
        if http_response.status_code != 200 or "state" not in item:
            return
        state = decode_state(item["state"], item.get("state_codec"))
        cursor = (state.get("start_after") or "").encode()
        below = [k for k in self.order if k.encode() <= cursor]
        counters = item.get("counters") or {}
        expected = {"objects": len(below), "bytes": sum(self.sizes[k] for k in below)}
        if {k: counters.get(k, 0) for k in expected} != expected or counters.get(
            "recorded", 0
        ) != len(below):
            self.wrong.append(f"cursor {state.get('start_after')!r}: {counters} != {expected}")
        self.checked += 1


@pytest.fixture(scope="module")
def awkward() -> Iterator[BucketTruth]:
    with mock_aws():
        yield fill_bucket(boto3.client("s3", region_name="us-east-1"), "awkward-pool", 400)


def test_kills_with_objects_in_flight_keep_every_commit_at_the_watermark(
    awkward: BucketTruth,
) -> None:
    """The sandbox dies inside an action while other objects run on the pool (Lambda retries
    the epoch): every checkpoint, hand-off and finish commits exactly the watermark view, and
    the job ends with exact counters, every object processed at least once. (Objects finishing
    out of key order are the simulator's job: tests/test_sim_walk_pool.py.)"""
    keys = sorted(awkward.sizes, key=lambda k: k.encode())

    def kill() -> None:
        raise Killed("the sandbox died inside an action")

    # Two kills: even if both strike the same epoch, Lambda's two retries still run it.
    for index in (40, 300):
        actions.hooks[keys[index]] = kill
    audit = WatermarkAudit(awkward)
    with local_stack() as stack:
        client = stack.store.model._get_connection().connection.client
        client.meta.events.register("after-call.dynamodb.UpdateItem", audit)
        job = stack.start({"bucket": awkward.bucket, "action": RECORD, "concurrency": 8})
        stack.sim.drain()
        done = stack.job(job.job_id)
        client.meta.events.unregister("after-call.dynamodb.UpdateItem", audit)
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert sum(isinstance(e, Killed) for e in stack.sim.errors) == 2
    assert {k: done.counters[k] for k in ("objects", "bytes")} == awkward.counters()
    assert done.counters["recorded"] == len(keys), "counters cover each object exactly once"
    assert set(actions.seen) == set(keys), "every object processed at least once (I4)"
    assert audit.checked >= 5 and not audit.wrong, audit.wrong[:3]
    check_one_holder_no_fork(stack.commits)
