"""An action or task that raises `SystemExit` or `KeyboardInterrupt` (any `BaseException`):
a failed attempt like any exception, never a dead worker that leaves the job RUNNING.

Without this rule the exception leaves the handler, the process ends with the lease held and no
error on the item, and the job waits RUNNING until the watchdog calls it stalled. In process:
moto, the real relay and LambdaSim (whose own sandbox kills are a `SandboxGone`, let through).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from moto import mock_aws

from baton.handler.faults import SandboxGone
from baton.handler.relay import TaskExited
from baton.store.records import Job, JobStatus
from tests.support import actions, exiting_task
from tests.support.buckets import BucketTruth, fill_bucket
from tests.support.inprocess_stack import Stack, local_stack

RECORD = "tests.support.actions:record"
EXITS: dict[str, Callable[[], BaseException]] = {
    "SystemExit": lambda: SystemExit(3),
    "KeyboardInterrupt": KeyboardInterrupt,
}


@pytest.fixture(autouse=True)
def clean_actions() -> Iterator[None]:
    actions.reset()
    yield
    actions.reset()


@pytest.fixture(scope="module")
def bucket() -> Iterator[BucketTruth]:
    with mock_aws():
        yield fill_bucket(boto3.client("s3", region_name="us-east-1"), "exits", 30)


def deliver_one(stack: Stack) -> None:
    """One delivery; a `BaseException` that escapes the handler fails the test (instead of
    ending pytest, as a KeyboardInterrupt would)."""
    try:
        stack.sim.deliver(stack.sim.queue.popleft())
    except SandboxGone:
        raise
    except BaseException as exc:
        pytest.fail(f"{type(exc).__name__} escaped the handler: the worker would have died")


def exit_on(key: str, make: Callable[[], BaseException]) -> None:
    def hook() -> None:
        actions.hooks[key] = hook  # every attempt at this object exits
        raise make()

    actions.hooks[key] = hook


def assert_counted_attempts(stack: Stack, job: Job, name: str) -> Job:
    """Each delivery counts one attempt with the error on the item; the third fails the job."""
    for attempt in (1, 2):
        deliver_one(stack)
        now = stack.job(job.job_id)
        assert now.status is JobStatus.QUEUED, now
        assert now.lease_owner is None, "the lease is released for Lambda's retry"
        assert now.attempts == attempt
        assert now.last_error is not None and name in now.last_error
        assert isinstance(stack.sim.errors[-1], TaskExited), "Lambda sees an ordinary error"
        assert len(stack.sim.queue) == 1, "Lambda retries the same epoch"
    deliver_one(stack)
    ended = stack.job(job.job_id)
    assert ended.status is JobStatus.FAILED
    assert ended.last_error is not None
    assert ended.last_error.startswith("attempt 3 of 3 failed:") and name in ended.last_error
    assert not stack.sim.queue, "a job FAILED after max_attempts is not retried"
    return ended


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("name", sorted(EXITS))
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_an_action_that_exits_is_a_failed_attempt(
    bucket: BucketTruth, name: str, concurrency: int, on_error: str
) -> None:
    """Inline and on the thread pool alike, under either on_error (an exit is no per-object
    error baton may skip: it was meant for the process)."""
    keys = sorted(bucket.sizes, key=lambda k: k.encode())
    exit_on(keys[7], EXITS[name])
    with local_stack() as stack:
        job = stack.start(
            {
                "bucket": bucket.bucket,
                "action": RECORD,
                "concurrency": concurrency,
                "on_error": on_error,
            }
        )
        ended = assert_counted_attempts(stack, job, name)
        assert ended.counters.get("objects", 0) <= 7, "nothing past the exiting object counted"
        # The cause gone, a resume finishes the walk with every object counted once.
        actions.hooks.clear()
        stack.store.resume(job.job_id)
        stack.sim.send({"job_id": job.job_id, "epoch": ended.epoch + 1})
        stack.sim.drain()
        done = stack.job(job.job_id)
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.last_error is None
    assert {k: done.counters[k] for k in ("objects", "bytes")} == bucket.counters()


@pytest.fixture
def exiting() -> Iterator[None]:
    yield
    exiting_task.SUMMARY_EXITS.clear()


@pytest.mark.parametrize("summary_exits", [False, True])
@pytest.mark.parametrize("name", sorted(EXITS))
def test_a_user_task_that_exits_is_a_failed_attempt(
    exiting: None, name: str, summary_exits: bool
) -> None:
    """Its step exits; with `summary_exits`, so does the summary the failed job is left with:
    the job still ends FAILED (without a summary)."""
    exiting_task.EXITS["exc"] = EXITS[name]()
    if summary_exits:
        exiting_task.SUMMARY_EXITS.append(EXITS[name]())
    with mock_aws(), local_stack(task_modules=("tests.support.exiting_task",)) as stack:
        job = stack.start({"n": 10, "at": 5}, task="exiting-ticker")
        ended = assert_counted_attempts(stack, job, name)
    assert ended.counters.get("ticks", 0) <= 5
    assert "exiting-ticker" in (ended.last_error or ""), "the final error names the task"
    # The summary describes the last commit (what a resume starts from), never the hop's
    # uncommitted ticks before the exit.
    committed = {"i": ended.counters.get("ticks", 0)} if ended.has_state else {}
    assert ended.summary == ({} if summary_exits else committed)
