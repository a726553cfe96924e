"""A cancel that lands between the holder's read of a pause and its stop write is kept.

Found by the simulator's I7 check on fan-out schedules: the holder checkpoints and sees a pause;
the operator's cancel flag lands; the holder's PAUSED write removed both flags, so the job sat
PAUSED and a later resume ran it to the end, the accepted cancel lost.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.store import HopEnd, JobSpec, JobStatus, JobStore, Progress
from baton.store.lease_holder import LeaseHolder
from baton.store.records import ClaimRejected, RejectReason
from tests.support.memory_store import memory_store

DEADLINE_MS = 60_000


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        yield s


def claim(store: JobStore, epoch: int) -> LeaseHolder | ClaimRejected:
    return store.claim("j", epoch, f"r{epoch}", store.clock.now_ms() + DEADLINE_MS)


def test_a_cancel_after_the_holder_read_a_pause_survives_the_pause(store: JobStore) -> None:
    store.create(JobSpec("j", "s3-walk", {"bucket": "b"}, max_hops=10, max_attempts=3))
    held = claim(store, 1)
    assert isinstance(held, LeaseHolder)
    store.request_pause("j")
    seen = held.checkpoint(Progress({"cursor": "k"}, {"objects": 1}))
    assert seen.pause_requested and not seen.cancel_requested
    store.request_cancel("j")  # lands after the holder's read, before its stop write
    paused = held.stop(JobStatus.PAUSED, HopEnd(1, "paused"))
    assert paused.status is JobStatus.PAUSED
    assert paused.cancel_requested and not paused.pause_requested, "the cancel stays visible"
    # Whoever touches the job next honours it: a resume claims a job that stops CANCELLED.
    resumed = store.resume("j")
    again = claim(store, resumed.epoch)
    assert isinstance(again, LeaseHolder) and again.job.cancel_requested
    cancelled = again.stop(JobStatus.CANCELLED, HopEnd(0, "cancelled"))
    assert cancelled.status is JobStatus.CANCELLED and not cancelled.cancel_requested
    rejected = claim(store, resumed.epoch)
    assert isinstance(rejected, ClaimRejected) and rejected.reason is RejectReason.TERMINAL


def test_an_operator_cancel_of_the_paused_job_ends_it_at_once(store: JobStore) -> None:
    store.create(JobSpec("j", "s3-walk", {"bucket": "b"}, max_hops=10, max_attempts=3))
    held = claim(store, 1)
    assert isinstance(held, LeaseHolder)
    store.request_pause("j")
    held.checkpoint(Progress({}, {}))
    store.request_cancel("j")
    held.stop(JobStatus.PAUSED, HopEnd(0, "paused"))
    assert store.request_cancel("j").status is JobStatus.CANCELLED
