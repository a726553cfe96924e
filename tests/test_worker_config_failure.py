"""A worker that cannot run (a bad `BATON_*` variable on the function, a bad `baton up` flag)
records why on the job its event names: an attempt counted, `last_error` naming the variable,
FAILED after `max_attempts`; never a job shown QUEUED with nothing said.

In process: moto, the real handler (`lambda_handler` builds its runtime from the environment,
as on Lambda) and LambdaSim's retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from moto import mock_aws

from baton.handler.runtime import use_runtime
from baton.store.clock import SystemClock
from baton.store.lease_holder import LeaseHolder
from baton.store.records import JobStatus
from tests.support.inprocess_stack import Stack, local_stack

BUCKET = "cfg-data"
BAD = {
    "BATON_CHECKPOINT_S": "0",
    "BATON_MIN_MARGIN_MS": "-5",
    "BATON_FUNCTION": "not a function name",
    "BATON_RETENTION_DAYS": "0",
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    table = f"baton-cfg-{uuid.uuid4().hex[:8]}"
    with mock_aws(), local_stack(table=table) as stack:
        stack.runtime.s3.create_bucket(Bucket=BUCKET)
        for i in range(3):
            stack.runtime.s3.put_object(Bucket=BUCKET, Key=f"k{i}", Body=b"x" * i)
        monkeypatch.setenv("BATON_TABLE", table)
        yield stack


def misconfigure(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """From here on the handler builds its runtime from an environment with `name` wrong."""
    monkeypatch.setenv(name, BAD[name])
    use_runtime(None)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_variable_is_recorded_on_the_job(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    job = stack.start({"bucket": BUCKET})
    misconfigure(monkeypatch, name)
    for attempt in (1, 2):
        stack.sim.deliver(stack.sim.queue.popleft())
        now = stack.job(job.job_id)
        assert (now.status, now.epoch, now.lease_owner) == (JobStatus.QUEUED, 1, None)
        assert now.attempts == attempt
        assert now.last_error is not None and name in now.last_error, now.last_error
        assert "the worker cannot run" in now.last_error
        assert len(stack.sim.queue) == 1, "the error is raised: Lambda retries"
    stack.sim.deliver(stack.sim.queue.popleft())
    ended = stack.job(job.job_id)
    assert ended.status is JobStatus.FAILED
    assert ended.last_error is not None and ended.last_error.startswith("attempt 3 of 3 failed")
    assert name in ended.last_error and f"baton resume {job.job_id}" in ended.last_error
    assert not stack.sim.queue and ended.hops == 3
    # Configuration fixed, a resume runs the job from where it was.
    monkeypatch.delenv(name)
    use_runtime(stack.runtime)
    resumed = stack.store.resume(job.job_id)
    stack.sim.send({"job_id": job.job_id, "epoch": resumed.epoch})
    stack.sim.drain()
    done = stack.job(job.job_id)
    assert done.status is JobStatus.SUCCEEDED and done.counters["objects"] == 3
    assert done.last_error is None, "a success shows no error the resume got past"


def test_only_the_epoch_the_event_names_is_touched(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale event, or a job a live invocation holds, is left alone (the claim's fence)."""
    job = stack.start({"bucket": BUCKET})
    misconfigure(monkeypatch, "BATON_CHECKPOINT_S")
    stack.sim.queue.clear()
    stack.sim.send({"job_id": job.job_id, "epoch": 2})  # no such epoch yet
    stack.sim.deliver(stack.sim.queue.popleft())
    untouched = stack.job(job.job_id)
    assert (untouched.attempts, untouched.last_error, untouched.hops) == (0, None, 0)
    held = stack.store.claim(job.job_id, 1, "live-holder", SystemClock().now_ms() + 600_000)
    assert isinstance(held, LeaseHolder)
    stack.sim.send({"job_id": job.job_id, "epoch": 1})
    stack.sim.deliver(stack.sim.queue.popleft())
    still = stack.job(job.job_id)
    assert (still.lease_owner, still.attempts, still.last_error) == ("live-holder", 0, None)
    assert not stack.sim.queue, "a discarded event is not retried"


def test_a_bad_table_name_records_nothing_and_raises(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = stack.start({"bucket": BUCKET})
    monkeypatch.setenv("BATON_TABLE", "x")
    use_runtime(None)
    stack.sim.deliver(stack.sim.queue.popleft())
    assert "BATON_TABLE" in str(stack.sim.errors[-1])
    assert stack.job(job.job_id).attempts == 0
