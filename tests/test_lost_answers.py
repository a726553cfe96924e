"""Every write of the protocol, with its answer lost after it landed and botocore retrying it.

For each write (claim, checkpoint, hand-off inline and spilled, finish, fail with and without
progress, failure release, create, resume, pause, cancel, watchdog nudge and re-arm) the answer of
one landed request is lost inside botocore's retry loop (tests/support/lost_answers.py), and the
SDK sends it again. The job must still end exact, with no state object lost, no second chain,
hops counted once, and nothing left for the watchdog.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from baton.handler import faults
from baton.handler.launch import send_event
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.records import Job, JobStatus
from tests.support import actions
from tests.support import lost_answers as la
from tests.support.audit import check_one_holder_no_fork
from tests.support.buckets import BucketTruth, fill_bucket
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import FUNCTION, KillAt

BUCKET = "lost-answers"
OBJECTS = 400
STATE_BUCKET = "lost-answers-state"
STALL_S = 300


@pytest.fixture(scope="module")
def truth() -> Iterator[BucketTruth]:
    with mock_aws():
        yield fill_bucket(boto3.client("s3", region_name="us-east-1"), BUCKET, OBJECTS)


def make_stack(**options: object) -> Iterator[tuple[Stack, la.LoseAnswers]]:
    actions.reset()
    with local_stack(timeout_ms=1_500, **options) as stack:  # type: ignore[arg-type]
        hook = la.LoseAnswers()
        la.install(stack.store.model._get_connection().connection.client, hook)
        yield stack, hook


@pytest.fixture
def inline(truth: BucketTruth) -> Iterator[tuple[Stack, la.LoseAnswers]]:
    yield from make_stack()


@pytest.fixture
def spilled(truth: BucketTruth) -> Iterator[tuple[Stack, la.LoseAnswers]]:
    yield from make_stack(state_bucket=STATE_BUCKET, inline_limit=0)


def claims(stack: Stack, job_id: str) -> int:
    return sum(1 for c in stack.commits if c.op == "claim" and c.job_id == job_id)


def assert_exact(stack: Stack, hook: la.LoseAnswers, job_id: str, truth: BucketTruth) -> Job:
    """SUCCEEDED with the bucket's counters, one chain, one hop per claim, no lease lost, no
    event left waiting for the watchdog, and the last committed state still readable."""
    assert not hook.armed, "the lost answer never happened: the test proves nothing"
    assert all(status == 200 for _, status in hook.landed), hook.landed
    job = stack.job(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert {k: job.counters.get(k, 0) for k in truth.counters()} == truth.counters()
    assert job.hops == claims(stack, job_id), "a claim was counted twice"
    outcomes = [r["outcome"] for r in stack.sim.results]
    assert "lease_lost" not in outcomes and "handed_off_not_invoked" not in outcomes, outcomes
    assert stack.store.load_state(job) is not None, "the final state must still be readable"
    check_one_holder_no_fork(stack.commits)
    return job


def run(stack: Stack, job_id: str, options: dict[str, int] | None = None, **params: str) -> None:
    stack.start({"bucket": BUCKET, **params}, job_id=job_id, **(options or {}))
    stack.sim.drain()


@pytest.mark.parametrize(
    "name, match",
    [
        ("claim", la.claim_write),
        ("checkpoint", la.checkpoint_write),
        ("hand_off", la.hand_off_write),
        ("finish", la.status_write("SUCCEEDED")),
    ],
)
@pytest.mark.parametrize("where", ["inline", "spilled"])
def test_a_holder_write_whose_answer_is_lost_is_recognised(
    request: pytest.FixtureRequest, truth: BucketTruth, where: str, name: str, match: la.Match
) -> None:
    stack, hook = request.getfixturevalue(where)
    hook.lose(match)
    run(stack, f"{name}-{where}")
    assert_exact(stack, hook, f"{name}-{where}", truth)


def test_a_claim_retried_on_the_last_allowed_hop_runs_it(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    run(stack, "probe")
    needed = stack.job("probe").hops
    hook.lose(la.claim_write, times=needed)  # every claim of the chain, the last one too
    run(stack, "last-hop", {"max_hops": needed})
    assert_exact(stack, hook, "last-hop", truth)
    assert stack.job("last-hop").hops == needed


def test_a_fail_with_progress_keeps_its_state_and_resume_continues(
    spilled: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = spilled
    hook.lose(la.status_write("FAILED"))
    run(stack, "fail-progress", {"max_hops": 2})
    failed = stack.job("fail-progress")
    assert failed.status is JobStatus.FAILED and "max_hops" in (failed.last_error or "")
    cursor = stack.store.load_state(failed)  # StateCorrupt here was the data loss
    assert cursor is not None
    resumed = stack.store.resume("fail-progress", max_hops=200)
    send_event(stack.runtime.lambda_client, FUNCTION, resumed)
    stack.sim.drain()
    assert_exact(stack, hook, "fail-progress", truth)


def test_a_fail_without_progress_ends_failed_once(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    actions.fail_always.add(sorted(truth.under(""), key=lambda k: k.encode())[0])
    hook.lose(la.status_write("FAILED"))
    run(stack, "bad", {"max_attempts": 1}, action="tests.support.actions:record")
    job = stack.job("bad")
    assert not hook.armed
    assert job.status is JobStatus.FAILED and job.lease_owner is None
    assert "cannot process" in (job.last_error or "")
    assert [r["outcome"] for r in stack.sim.results] == ["failed"]
    assert not stack.sim.errors, "a landed fail must not be retried by Lambda"


def test_a_failure_release_whose_answer_is_lost_lets_lambda_retry_at_once(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    key = sorted(truth.under(""), key=lambda k: k.encode())[50]
    actions.fail_once.add(key)
    hook.lose(la.release_write)
    run(stack, "release", action="tests.support.actions:record")
    job = assert_exact(stack, hook, "release", truth)
    assert len(stack.sim.errors) == 1, "one task error, re-raised once for Lambda's retry"
    assert job.attempts == 0 and job.counters["recorded"] == OBJECTS


def test_create_whose_answer_is_lost_reports_created_and_starts_the_chain(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    hook.lose(la.put_write)
    launched = stack.start({"bucket": BUCKET}, job_id="create")
    assert launched.status is JobStatus.QUEUED
    assert len(stack.sim.queue) == 1, "the first event was sent"
    stack.sim.drain()
    assert_exact(stack, hook, "create", truth)


def pause_between_hops(stack: Stack, job_id: str) -> None:
    """Run the chain's first hop only, leaving it QUEUED with its next event queued."""
    stack.start({"bucket": BUCKET}, job_id=job_id)
    stack.sim.deliver(stack.sim.queue.popleft())
    assert stack.job(job_id).status is JobStatus.QUEUED


def test_pause_and_resume_whose_answers_are_lost(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    pause_between_hops(stack, "pause")
    hook.lose(la.status_write("PAUSED"))
    assert stack.store.request_pause("pause").status is JobStatus.PAUSED
    stack.sim.drain()  # the queued event is discarded: paused
    assert stack.job("pause").status is JobStatus.PAUSED
    hook.lose(la.resume_write)
    resumed = stack.store.resume("pause")
    send_event(stack.runtime.lambda_client, FUNCTION, resumed)
    stack.sim.drain()
    assert_exact(stack, hook, "pause", truth)


def test_cancel_whose_answer_is_lost_is_reported_done(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    pause_between_hops(stack, "cancel")
    hook.lose(la.status_write("CANCELLED"))
    assert stack.store.request_cancel("cancel").status is JobStatus.CANCELLED
    assert not hook.armed
    stack.sim.drain()
    assert stack.job("cancel").status is JobStatus.CANCELLED


def test_a_cancel_flag_whose_answer_is_lost_is_honoured_by_the_holder(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline

    def cancel_mid_hop() -> None:
        hook.lose(la.flag_write("cancel_requested"))
        assert stack.store.request_cancel("flag").cancel_requested

    actions.hooks[sorted(truth.under(""), key=lambda k: k.encode())[30]] = cancel_mid_hop
    run(stack, "flag", action="tests.support.actions:record")
    assert not hook.armed
    assert stack.job("flag").status is JobStatus.CANCELLED


def test_watchdog_nudge_whose_answer_is_lost_resends_once(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    stack, hook = inline
    lost: list[int] = []

    def lose_epoch_2_once(event: dict[str, int]) -> bool:
        if lost or event["epoch"] != 2:
            return False
        lost.append(2)
        return True

    stack.sim.lose = lose_epoch_2_once
    run(stack, "nudge")
    assert stack.job("nudge").status is JobStatus.QUEUED
    stack.clock.advance(STALL_S * 1000 + 1)
    hook.lose(la.nudge_write)
    swept = watchdog(stack).sweep()
    assert [(a.action, a.epoch) for a in swept] == [("resent", 2)]
    stack.sim.drain()
    assert_exact(stack, hook, "nudge", truth)


def test_watchdog_rearm_whose_answer_is_lost_rearms_once(
    truth: BucketTruth,
) -> None:
    kill = KillAt(faults.AFTER_CLAIM, lambda hit: hit == 2)
    for stack, hook in make_stack(faults=kill):
        stack.sim.max_retries = 0
        run(stack, "rearm")
        assert stack.job("rearm").status is JobStatus.RUNNING
        stack.clock.advance(STALL_S * 1000 + 1)
        hook.lose(la.rearm_write)
        swept = watchdog(stack).sweep()
        assert [a.action for a in swept] == ["rearmed"]
        stack.sim.drain()
        assert_exact(stack, hook, "rearm", truth)


def watchdog(stack: Stack) -> Watchdog:
    wd = Watchdog(
        stack.store,
        stack.runtime.lambda_client,
        FUNCTION,
        WatchdogSettings(stall_after_s=STALL_S),
    )
    wd.kill_switch_on = lambda: False  # type: ignore[method-assign]
    return wd


def test_an_operator_between_a_landed_hand_off_and_its_retry_loses_nothing(
    spilled: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    """The hand-off lands, an operator pauses the QUEUED job before botocore's retry, and the
    retry meets the operator's write. The holder reads it as refused and stops without invoking;
    the state object the item points to must survive, and resume continues from it exactly."""
    stack, hook = spilled
    hook.lose(la.hand_off_write)
    paused: list[JobStatus] = []
    hook.meanwhile = lambda: paused.append(stack.store.request_pause("overtaken").status)
    run(stack, "overtaken")
    assert paused == [JobStatus.PAUSED]
    job = stack.job("overtaken")
    assert job.status is JobStatus.PAUSED
    assert stack.store.load_state(job) is not None, "the committed state object was deleted"
    assert [r["outcome"] for r in stack.sim.results][-1] == "lease_lost"
    resumed = stack.store.resume("overtaken")
    send_event(stack.runtime.lambda_client, FUNCTION, resumed)
    stack.sim.drain()
    done = stack.job("overtaken")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert {k: done.counters.get(k, 0) for k in truth.counters()} == truth.counters()
    check_one_holder_no_fork(stack.commits)


# ----------------------------------------------- errors in a hop must not leave the lease held


def deliver_next_expecting_an_error(stack: Stack, job_id: str) -> Job:
    """Deliver the queued event; its invocation must raise (for Lambda's retry) having released
    the lease with the attempt counted, so the retry can claim the epoch at once."""
    errors = len(stack.sim.errors)
    stack.sim.deliver(stack.sim.queue.popleft())
    assert len(stack.sim.errors) == errors + 1, "the failed attempt was re-raised for Lambda"
    job = stack.job(job_id)
    assert job.lease_owner is None, "the lease is still held: Lambda's retry would be discarded"
    assert job.status is JobStatus.QUEUED and job.attempts == 1
    return job


def test_a_transient_s3_error_loading_the_state_releases_the_lease_for_lambdas_retry(
    spilled: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    """The spilled state cannot be read (S3 answers 500 to every attempt botocore makes)."""
    stack, hook = spilled
    stack.start({"bucket": BUCKET}, job_id="s3-error")
    stack.sim.deliver(stack.sim.queue.popleft())  # hop 1 spills its state and hands off
    failing = la.FailRequests()
    attempts = stack.runtime.s3.meta.config.retries["total_max_attempts"]
    failing.fail(la.s3_get, times=attempts)  # every attempt botocore makes of one GetObject
    stack.runtime.s3.meta.events.register_first("before-send.s3", failing, unique_id="fail-s3")
    la.without_jitter(stack.runtime.s3)
    deliver_next_expecting_an_error(stack, "s3-error")
    assert failing.failed == attempts
    stack.sim.drain()
    assert_exact(stack, hook, "s3-error", truth)


def test_a_failure_release_that_fails_is_tried_again(
    inline: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    """A task error, then DynamoDB throttles every attempt of the release: the relay tries the
    release again rather than leave the lease held for the watchdog."""
    stack, hook = inline
    client = stack.store.model._get_connection().connection.client
    attempts = client.meta.config.retries["total_max_attempts"]
    failing = la.FailRequests()
    failing.fail(la.release_write, times=attempts)
    client.meta.events.register_first("before-send.dynamodb", failing, unique_id="fail-ddb")
    actions.fail_once.add(sorted(truth.under(""), key=lambda k: k.encode())[0])
    stack.start({"bucket": BUCKET, "action": "tests.support.actions:record"}, job_id="again")
    deliver_next_expecting_an_error(stack, "again")
    assert failing.failed == attempts
    stack.sim.drain()
    job = assert_exact(stack, hook, "again", truth)
    assert job.counters["recorded"] == OBJECTS


def test_a_hand_off_of_unknown_outcome_that_landed_is_still_invoked(
    spilled: tuple[Stack, la.LoseAnswers], truth: BucketTruth
) -> None:
    """The hand-off lands, its answer is lost, the retry is refused and the read-back fails too:
    the outcome is unknown, so the relay releases the attempt. That release is refused because
    the hand-off had landed; the relay recognises its own write and sends the next epoch's event
    rather than leave the job QUEUED for the watchdog."""
    stack, hook = spilled
    client = stack.store.model._get_connection().connection.client
    failing = la.FailRequests()
    client.meta.events.register_first("before-send.dynamodb", failing, unique_id="fail-get")
    attempts = client.meta.config.retries["total_max_attempts"]

    def then_fail_the_read_back() -> None:
        failing.fail(lambda op, body: op == "GetItem", times=attempts)

    hook.lose(la.hand_off_write)
    hook.meanwhile = then_fail_the_read_back
    run(stack, "unknown-hand-off")
    assert failing.failed == attempts
    job = assert_exact(stack, hook, "unknown-hand-off", truth)
    assert job.epoch == job.hops
