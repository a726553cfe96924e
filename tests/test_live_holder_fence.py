"""Writes by someone who does not hold the lease leave a live holder alone.

A resume, a cancel or pause, a watchdog re-arm or fail decides on what it read: a job whose
lease had expired (its holder dead). Between that read and the write, Lambda's retry (or a late
event) may claim the job and start working. The write's condition carries "no live lease"
(`unheld` in store/conditions.py) for exactly that moment: without it the write lands, the new
epoch (or the terminal status) fences a holder that is alive and working, its next commit is
refused, and everything it did since its claim is thrown away and done again by the next chain,
which the re-arm has already sent on its way: two invocations work the same objects at once.

Each test reads the stalled job, lets a new holder claim it, then sends the write with what it
read; the write must be refused (or, for an operator, turned into a request the holder honours
at its next commit), and the holder's progress must commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton.store import HopEnd, JobSpec, JobStatus, JobStore, Progress
from baton.store.errors import ChangedMeanwhile, IllegalTransition
from baton.store.lease_holder import LeaseHolder
from baton.store.records import Job
from tests.support.memory_store import memory_store

DEADLINE_MS = 60_000
JOB = "fence-1"


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        yield s


def claim(store: JobStore, owner: str, epoch: int = 1) -> LeaseHolder:
    result = store.claim(JOB, epoch, owner, store.clock.now_ms() + DEADLINE_MS)
    assert isinstance(result, LeaseHolder), result
    return result


def stalled(store: JobStore) -> Job:
    """A job whose holder died after one checkpoint: RUNNING, its lease expired."""
    store.create(JobSpec(JOB, "s3-walk", {"bucket": "b"}, max_hops=10, max_attempts=3))
    dead = claim(store, "dead")
    dead.checkpoint(Progress({"cursor": 1}, {"objects": 1}))
    store.clock.advance(DEADLINE_MS + store.skew_ms + 1)  # type: ignore[attr-defined]
    job = store.get(JOB)
    assert job.status is JobStatus.RUNNING and not job.lease_alive(store.clock.now_ms())
    return job


def works_on(store: JobStore, holder: LeaseHolder) -> Job:
    """The live holder's next commit: it must go through, with its progress."""
    job = holder.checkpoint(Progress({"cursor": 5}, {"objects": 5}))
    assert job.epoch == holder.lease.epoch and job.counters == {"objects": 5}
    return job


def test_a_watchdog_rearm_read_before_a_claim_leaves_the_new_holder_alone(
    store: JobStore,
) -> None:
    seen = stalled(store)
    holder = claim(store, "retry")  # Lambda's retry claims the stalled job
    with pytest.raises(ChangedMeanwhile):
        store.rearm(seen)
    works_on(store, holder)


def test_a_watchdog_fail_read_before_a_claim_leaves_the_new_holder_alone(
    store: JobStore,
) -> None:
    seen = stalled(store)
    holder = claim(store, "retry")
    with pytest.raises(ChangedMeanwhile):
        store.fail_stalled(seen, "no progress")
    works_on(store, holder)


def claim_after_read(store: JobStore) -> list[LeaseHolder]:
    """Make the store's next read of the job be followed at once by a claim (the race)."""
    real_get = store.get
    claimed: list[LeaseHolder] = []

    def get_then_claim(job_id: str) -> Any:
        job = real_get(job_id)
        if not claimed:
            claimed.append(claim(store, "retry"))
        return job

    store.get = get_then_claim  # type: ignore[method-assign]
    return claimed


def test_a_resume_read_before_a_claim_leaves_the_new_holder_alone(store: JobStore) -> None:
    stalled(store)
    claimed = claim_after_read(store)
    with pytest.raises(IllegalTransition, match="changed while resuming"):
        store.resume(JOB)
    works_on(store, claimed[0])


def test_a_cancel_read_before_a_claim_becomes_a_request_the_holder_honours(
    store: JobStore,
) -> None:
    """The operator's cancel still wins, but through the holder: its progress commits first
    and its stop runs (a fan-out parent passes the cancel on to its shards there)."""
    stalled(store)
    claimed = claim_after_read(store)
    asked = store.request_cancel(JOB)
    assert asked.status is JobStatus.RUNNING and asked.cancel_requested
    holder = claimed[0]
    seen = works_on(store, holder)
    assert seen.requested_stop is JobStatus.CANCELLED
    ended = holder.stop(JobStatus.CANCELLED, HopEnd(4, "cancelled"))
    assert ended.status is JobStatus.CANCELLED and ended.counters == {"objects": 5}
