"""Real chains over moto: the relay, the store and the s3-walk task, with Lambda simulated.

Every test ends by comparing the counters with the bucket's truth and by replaying the store's
commit record to check I1 (one holder) and I2 (no fork).

The cost of a walk here is mostly per hop (claim, checkpoint, hand-off and listing through moto),
so the bucket is small and each clock reading costs PACE_MS of virtual time: a walk still takes a
dozen hops, as the assertions on hops, kills and resumes need, without listing thousands of keys.
Positions in the key list are fractions of OBJECTS, so they keep their place if it changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.handler import faults
from baton.store.records import JobStatus
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.buckets import BucketTruth, fill_bucket
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import KillAt, Killed

BUCKET = "awkward-keys"
OBJECTS = 500
# Virtual milliseconds per clock reading: with the stack's 2 s hops this walks OBJECTS in about
# 12 hops (the default 15 ms would take 5, too few for the hop and kill assertions below).
PACE_MS = 30


@pytest.fixture(scope="module")
def truth() -> Iterator[BucketTruth]:
    with mock_aws():
        yield fill_bucket(boto3.client("s3", region_name="us-east-1"), BUCKET, OBJECTS)


def chain_stack(**options: Any) -> AbstractContextManager[Stack]:
    """local_stack at this file's pace (see the module docstring)."""
    return local_stack(tick_ms=PACE_MS, **options)


@pytest.fixture
def stack(truth: BucketTruth) -> Iterator[Stack]:
    actions.reset()
    with chain_stack() as s:
        yield s


def assert_exact(stack: Stack, job_id: str, truth: BucketTruth, prefix: str = "") -> None:
    job = stack.job(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    expected = truth.counters(prefix)
    assert {k: job.counters.get(k, 0) for k in expected} == expected
    assert job.lease_owner is None
    check_one_holder_no_fork(stack.commits)


def test_chain_walks_awkward_bucket_exactly_over_many_hops(
    stack: Stack, truth: BucketTruth
) -> None:
    job = stack.start({"bucket": BUCKET})
    stack.sim.drain()

    done = stack.job(job.job_id)
    assert_exact(stack, job.job_id, truth)
    assert done.hops >= 10, f"only {done.hops} hops; the deadline should force at least 10"
    assert done.epoch == done.hops, "every hop but the last handed off to a new epoch"
    assert [r["outcome"] for r in stack.sim.results].count("handed_off") == done.hops - 1
    assert stack.sim.results[-1]["outcome"] == "finished"
    assert not stack.sim.errors
    assert sum(h.items for h in done.recent_hops) <= OBJECTS
    assert done.recent_hops[-1].ended_by == "finished"
    assert done.timing["step_ms"] >= 0 and done.finished_at is not None


def test_prefix_and_start_after_limit_the_walk(stack: Stack, truth: BucketTruth) -> None:
    job = stack.start({"bucket": BUCKET, "prefix": "unicode/"})
    stack.sim.drain()
    assert_exact(stack, job.job_id, truth, "unicode/")

    keys = sorted(truth.under("plus+sign/"), key=lambda k: k.encode())
    skipped = len(keys) // 2
    after = keys[skipped - 1]
    job = stack.start({"bucket": BUCKET, "prefix": "plus+sign/", "start_after": after})
    stack.sim.drain()
    done = stack.job(job.job_id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.counters["objects"] == len(keys) - skipped


def test_every_event_delivered_twice(stack: Stack, truth: BucketTruth) -> None:
    job = stack.start({"bucket": BUCKET})
    stack.sim.drain(duplicate=True)

    assert_exact(stack, job.job_id, truth)
    outcomes = [r["outcome"] for r in stack.sim.results]
    copies = outcomes.count("discarded")
    assert copies == len(stack.sim.invokes), "each duplicate costs one refused claim, no work"
    assert {r["detail"] for r in stack.sim.results if r["outcome"] == "discarded"} <= {
        "stale_epoch",
        "terminal",
    }


def test_late_events_after_the_next_epoch_ran_are_discarded(
    stack: Stack, truth: BucketTruth
) -> None:
    job = stack.start({"bucket": BUCKET})
    stack.sim.drain(late_rate=0.6, seed=7)

    assert_exact(stack, job.job_id, truth)
    discarded = [r for r in stack.sim.results if r["outcome"] == "discarded"]
    assert len(discarded) >= 3
    assert all(r["detail"] in ("stale_epoch", "terminal") for r in discarded)


@pytest.mark.parametrize("point", [faults.AFTER_CHECKPOINT, faults.MID_STEP, faults.AFTER_CLAIM])
def test_killed_invocations_resume_from_the_last_checkpoint(point: str, truth: BucketTruth) -> None:
    """Killed after a checkpoint (before any invoke), in the middle of the work, or right after
    the claim: Lambda retries the epoch once the dead holder's lease expires."""
    actions.reset()
    # Rates that strike a dozen-hop walk at least 3 times with room to spare: every other
    # checkpoint, every third claim, and mid-step about once per hop and a half (more often, the
    # retries of one epoch could all die before its next hand-off).
    every = {faults.AFTER_CHECKPOINT: 2, faults.MID_STEP: OBJECTS // 8, faults.AFTER_CLAIM: 3}[
        point
    ]
    kill = KillAt(point, lambda n: n % every == 0)
    with chain_stack(faults=kill) as stack:
        # One object per step, so the kill points strike at a known rate (concurrent walks:
        # tests/test_walk_concurrency.py).
        params = {"bucket": BUCKET, "action": "tests.support.actions:record", "concurrency": 1}
        job = stack.start(params)
        stack.sim.drain()

        assert kill.kills >= 3
        assert all(isinstance(e, Killed) for e in stack.sim.errors)
        assert_exact(stack, job.job_id, truth)
        done = stack.job(job.job_id)
        assert done.counters["recorded"] == OBJECTS, "counters cover each object exactly once"
        assert set(actions.seen) == set(truth.sizes), "every object processed at least once (I4)"
        if point == faults.MID_STEP:
            assert sum(actions.seen.values()) > OBJECTS, "work after the checkpoint ran again"


def test_a_hop_renews_its_lease_before_each_term_runs_out_whatever_the_checkpoint_interval(
    truth: BucketTruth,
) -> None:
    """A lease lasts one term from the holder's last commit, so that Lambda's retry a minute
    after a crash can take it over. A live hop that commits rarely (BATON_CHECKPOINT_S=900)
    still commits before each term ends: no live holder loses its lease by expiry."""
    actions.reset()
    with chain_stack(timeout_ms=30_000, checkpoint_s=900) as stack:
        store = stack.store
        store.lease_ms = 2_000
        params = {"bucket": BUCKET, "action": "tests.support.actions:record", "concurrency": 1}
        job = stack.start(params)
        stack.sim.drain()

        assert_exact(stack, job.job_id, truth)
        held_until = 0
        renewals = 0
        for commit in stack.commits:
            expires = commit.lease_expires_ms
            if commit.op == "claim":
                assert expires is not None
                assert expires - commit.at_ms == store.lease_ms + store.skew_ms, "one term"
            elif commit.owner is not None:
                assert commit.at_ms < held_until, f"{commit} after its lease's term ran out"
                if commit.op != "checkpoint":
                    continue
                assert expires is not None and expires - commit.at_ms <= store.lease_ms + (
                    store.skew_ms
                ), "a checkpoint renews the lease for one term"
                renewals += 1
            else:
                continue
            held_until = (expires or 0) - store.skew_ms
        hops = stack.job(job.job_id).hops
        assert renewals >= 5 * hops, f"{renewals} renewals in {hops} hops of up to 30 s"


def test_killed_between_hand_off_write_and_invoke_is_resent_by_lambdas_retry(
    truth: BucketTruth,
) -> None:
    """The hand-off landed, the sandbox died before invoking: Lambda's retry of that invocation
    (same request id) finds the job waiting at the next epoch with its own hop last in the
    timeline and sends the event again, so the chain goes on without the watchdog."""
    kill = KillAt(faults.AFTER_HAND_OFF_WRITE, lambda n: n == 3)
    with chain_stack(faults=kill) as stack:
        job = stack.start({"bucket": BUCKET})
        stack.sim.drain()

        assert kill.kills == 1
        resent = [r for r in stack.sim.results if r["outcome"] == "handed_off" and r["epoch"] == 4]
        assert len(resent) == 1, "the killed hop sent nothing; its retry sent epoch 4's event"
        assert not [r for r in stack.sim.results if r["outcome"] == "discarded"]
        assert_exact(stack, job.job_id, truth)


def test_a_stale_event_from_another_invocation_is_not_resent(truth: BucketTruth) -> None:
    """Only the retry of the invocation that handed off re-sends: a late duplicate of an older
    epoch, from another request, is discarded and adds nothing to the queue."""
    kill = KillAt(faults.AFTER_HAND_OFF_WRITE, lambda n: n == 3)
    with chain_stack(faults=kill) as stack:
        stack.sim.max_retries = 0  # the killed invocation is not retried: the event is lost
        job = stack.start({"bucket": BUCKET})
        stack.sim.drain()
        stuck = stack.job(job.job_id)
        assert stuck.status is JobStatus.QUEUED and stuck.epoch == 4 and stuck.lease_owner is None

        invokes = len(stack.sim.invokes)
        stack.sim.send({"job_id": job.job_id, "epoch": 3})  # a late copy, another request id
        stack.sim.drain()
        assert [r["detail"] for r in stack.sim.results[-1:]] == ["stale_epoch"]
        assert len(stack.sim.invokes) == invokes, "a stranger's stale event re-sends nothing"
        assert stack.job(job.job_id).status is JobStatus.QUEUED

        resumed = stack.store.resume(job.job_id)
        stack.sim.send({"job_id": job.job_id, "epoch": resumed.epoch})
        stack.sim.drain()
        assert_exact(stack, job.job_id, truth)


def test_task_error_is_retried_from_the_last_checkpoint(stack: Stack, truth: BucketTruth) -> None:
    keys = sorted(truth.sizes, key=lambda k: k.encode())
    actions.fail_once.update({keys[OBJECTS // 4], keys[OBJECTS * 3 // 4]})
    job = stack.start({"bucket": BUCKET, "action": "tests.support.actions:record"})
    stack.sim.drain()

    assert_exact(stack, job.job_id, truth)
    errors = [e for e in stack.sim.errors if isinstance(e, RuntimeError)]
    assert len(errors) == 2 and "transient failure" in str(errors[0])
    done = stack.job(job.job_id)
    assert done.attempts == 0
    assert done.counters["recorded"] == OBJECTS
    assert any(h.ended_by == "error" for h in done.recent_hops)


def test_job_fails_after_max_attempts_with_last_error(stack: Stack, truth: BucketTruth) -> None:
    at = OBJECTS * 7 // 20
    bad = sorted(truth.sizes, key=lambda k: k.encode())[at]
    actions.fail_always.add(bad)
    job = stack.start({"bucket": BUCKET, "action": "tests.support.actions:record"}, max_attempts=3)
    stack.sim.drain()

    failed = stack.job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None
    assert "attempt 3 of 3" in failed.last_error and bad in failed.last_error
    assert len(stack.sim.errors) == 2, "two errors re-raised for Lambda's retries, then FAILED"
    assert stack.sim.results[-1]["outcome"] == "failed"
    assert not stack.sim.dead_letters
    assert 0 < failed.counters["objects"] <= at, "the last checkpoint before the bad object"
    check_one_holder_no_fork(stack.commits)


def test_skip_policy_counts_failures_and_enforces_the_limit(
    stack: Stack, truth: BucketTruth
) -> None:
    keys = sorted(truth.sizes, key=lambda k: k.encode())
    actions.fail_always.update(keys[10:15])
    params = {"bucket": BUCKET, "action": "tests.support.actions:record", "on_error": "skip"}
    job = stack.start(params)
    stack.sim.drain()
    done = stack.job(job.job_id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.counters["failed"] == 5
    assert done.counters["objects"] == OBJECTS - 5
    assert done.counters["bytes"] == sum(truth.sizes.values()) - sum(
        truth.sizes[k] for k in keys[10:15]
    )

    limited = stack.start({**params, "max_failed": 3})
    stack.sim.drain()
    failed = stack.job(limited.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None and "over max_failed 3" in failed.last_error


def test_max_hops_stops_a_runaway_job_and_resume_continues_it(
    stack: Stack, truth: BucketTruth
) -> None:
    job = stack.start({"bucket": BUCKET}, max_hops=3)
    stack.sim.drain()

    stopped = stack.job(job.job_id)
    assert stopped.status is JobStatus.FAILED
    assert stopped.hops == 3
    assert stopped.last_error is not None and "max_hops" in stopped.last_error
    assert 0 < stopped.counters["objects"] < OBJECTS, "progress up to the limit is kept"

    resumed = stack.store.resume(job.job_id, max_hops=100)
    stack.sim.send({"job_id": job.job_id, "epoch": resumed.epoch})
    stack.sim.drain()
    assert_exact(stack, job.job_id, truth)


def test_pause_seen_at_checkpoint_then_resume_finishes(stack: Stack, truth: BucketTruth) -> None:
    keys = sorted(truth.sizes, key=lambda k: k.encode())
    job_id = "pause-me"
    at = OBJECTS * 3 // 20
    actions.hooks[keys[at]] = lambda: stack.store.request_pause(job_id)
    stack.start({"bucket": BUCKET, "action": "tests.support.actions:record"}, job_id=job_id)
    stack.sim.drain()

    paused = stack.job(job_id)
    assert paused.status is JobStatus.PAUSED
    assert not paused.pause_requested
    # The request lands while object `at` is in flight on the pool: what is committed covers at
    # least the objects below it, and the walk stopped before its end.
    assert at <= paused.counters["objects"] < OBJECTS

    resumed = stack.store.resume(job_id)
    stack.sim.send({"job_id": job_id, "epoch": resumed.epoch})
    stack.sim.drain()
    assert_exact(stack, job_id, truth)


def test_cancel_while_queued_stops_the_chain(stack: Stack, truth: BucketTruth) -> None:
    job = stack.start({"bucket": BUCKET})
    stack.sim.deliver(stack.sim.queue.popleft())
    cancelled = stack.store.request_cancel(job.job_id)
    assert cancelled.status is JobStatus.CANCELLED
    stack.sim.drain()
    assert stack.job(job.job_id).status is JobStatus.CANCELLED
    assert stack.sim.results[-1] == {
        "outcome": "discarded",
        "job_id": job.job_id,
        "epoch": 2,
        "detail": "terminal",
    }
