"""The simulator on concurrent s3-walks: objects on a pool finish in any order, under faults.

Threads do not fit the cooperative scheduler, so the simulator brings its own pool
(tests/sim/pool.py): work runs inline in the invocation's thread, in an order the chooser picks,
with every yield point and fault of a sequential walk. So a slow object holds the watermark
back while later ones finish, and a crash strikes with objects in flight, replayably. The
ledger checks I3 (counters exactly what the committed cursor covers) and I4 (everything the
cursor covers was processed) on every committed write. The same schedules turn red on a walk
that lets its cursor run past an unfinished object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.handler.tasks.framework.base import StepContext
from tests.sim.chooser import RandomChooser
from tests.sim.scenario import Config, Env, run_schedule
from tests.sim.sweep import sweep

POOL = Config(task="s3-walk", concurrency=(2, 8))
SEEDS = range(1_000, 1_040)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def test_concurrent_walks_keep_every_invariant_under_faults(env: Env) -> None:
    found = sweep(env, SEEDS, POOL, stop_after=1)
    assert not found.failures, found.failures[0][1].describe()
    print(found.line())
    # The schedules did what they are for: objects finished out of key order, and crashes
    # struck with objects in flight and others queued behind the workers.
    assert found.stats["pool_out_of_order"] >= 50, found.stats
    assert found.stats["pool_crash_in_flight"] >= 1, found.stats
    assert found.stats["pool_crash_queued"] >= 1, found.stats
    assert found.statuses["SUCCEEDED"] >= len(SEEDS) // 2, found.statuses


def test_a_concurrent_schedule_replays_exactly(env: Env) -> None:
    first = run_schedule(env, RandomChooser(1_007), POOL)
    again = run_schedule(env, RandomChooser(1_007), POOL)
    assert first.tape == again.tape
    assert {k: v for k, v in first.summary.items() if k != "job_id"} == {
        k: v for k, v in again.summary.items() if k != "job_id"
    }


def merge_whatever_is_done(self: S3Walk, state: dict[str, Any], ctx: StepContext) -> int:
    """The planted bug: merge every finished object, and move the cursor to it, even while an
    earlier object is still running."""
    done = [f for f in self._in_flight if f.future.done()]
    for flight in done:
        self._in_flight.remove(flight)
        ctx.count("objects")
        ctx.count("bytes", flight.obj.size)
        state["start_after"] = flight.obj.key
        self._done += 1
    return len(done)


def test_a_cursor_that_passes_an_unfinished_object_is_caught(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(S3Walk, "_merge", merge_whatever_is_done)
    found = sweep(env, SEEDS, POOL, stop_after=1)
    assert found.failures, f"no violation in {found.schedules} schedules"
    _, report = found.failures[0]
    assert report.violations[0].invariant in ("I3", "I4"), report.describe()
