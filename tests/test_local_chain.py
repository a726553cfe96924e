"""baton end to end on the local stack: real worker processes, HTTP, moto's server.

Each test runs the real `baton.handler.app.lambda_handler` chain through the local Lambda service
and
waits by polling the job item, never by sleeping a fixed time.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.handler.launch import send_event
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job, JobStatus
from tests.support.local_e2e import LOCAL_ACTIONS, fill, read_trace, start_walk, wait_until

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

ACTIONS = ("baton.local.demo.actions", LOCAL_ACTIONS)


def make_stack(
    timeout_ms: int, min_margin_ms: int, faults: FaultConfig | None = None
) -> LocalStack:
    return LocalStack(
        function=FunctionConfig(timeout_ms=timeout_ms),
        faults=faults,
        min_margin_ms=min_margin_ms,
        checkpoint_s=1,
        action_modules=ACTIONS,
        log_level="WARNING",
    )


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """Hops of about a second: a 2 s timeout, 1 s kept in hand (ample, even on a busy machine:
    a hop that overran its deadline would be killed, and this stack must see no failure)."""
    with make_stack(timeout_ms=2_000, min_margin_ms=1_000) as s:
        yield s


def succeeded(job: Job) -> bool:
    return job.status is JobStatus.SUCCEEDED


def ended(job: Job) -> bool:
    return job.status.terminal


def keys_processed(trace: Path) -> Counter[str]:
    return Counter(key for _, key in read_trace(trace) if not key.startswith("BLOCK "))


def test_a_chain_of_twenty_hops_succeeds_with_exact_counters(
    stack: LocalStack, tmp_path: Path
) -> None:
    truth = fill(stack, "walk-me", 800)
    trace = tmp_path / "trace"
    job = start_walk(stack, "walk-me", {"sleep_ms": 25, "trace": str(trace)})
    done = stack.wait_for_job(job.job_id, ended, timeout_s=120, what="its end")
    # The last hop writes the end before its invocation returns: let the service record it.
    stack.lambda_.wait_until_idle(timeout_s=30)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.hops >= 20, f"the chain should hop many times, it hopped {done.hops}"
    assert done.counters == truth.counters()
    # No fault, no crash: every object exactly once.
    assert keys_processed(trace) == Counter(list(truth.sizes))
    service = stack.lambda_.snapshot()
    assert service["invocations"] == done.hops == service["ok"]
    assert service["dead_letters"] == 0
    # Warm workers are reused: a hop hands off while still running, so two alternate.
    assert service["cold_starts"] <= 3
    assert [h.ended_by for h in done.recent_hops][-1] == "finished"
    assert all(h.ended_by == "budget" for h in done.recent_hops[:-1])


def test_duplicates_kills_and_throttles_together_still_give_exact_counters(
    tmp_path: Path,
) -> None:
    faults = FaultConfig(
        duplicate=Fault(0.3, seed=11), kill=Fault(0.3, seed=12), throttle=Fault(0.15, seed=13)
    )
    # A wider margin than the plain chain: a throttled hand-off is retried by botocore with
    # backoff (up to ~1 s for the first retry) inside the time kept in hand.
    with make_stack(timeout_ms=2_000, min_margin_ms=1_200, faults=faults) as stack:
        truth = fill(stack, "chaos", 600)
        trace = tmp_path / "trace"
        job = start_walk(stack, "chaos", {"sleep_ms": 25, "trace": str(trace)})
        watchdog = LocalWatchdog(stack)
        done = stack.wait_for_job(
            job.job_id, ended, timeout_s=240, what="its end", on_poll=watchdog
        )
        service = stack.lambda_.snapshot()
        results = [i.result() for i in stack.lambda_.invocations if i.ending == "ok"]

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    # The margin keeps 1.2 s of each 2 s hop in hand: 600 objects of 25 ms need 15 hops at least.
    assert done.hops >= 15
    assert done.counters == truth.counters(), "counters are exact whatever was killed or doubled"
    processed = keys_processed(trace)
    assert set(processed) == set(truth.sizes), "every object processed at least once"
    assert sum(processed.values()) >= len(truth.sizes)
    # Every fault really struck, and the protocol absorbed it.
    assert service["duplicated"] >= 2
    assert service["kills_planned"] >= 1
    assert service["throttled_by_fault"] >= 1
    assert any(r.get("outcome") == "discarded" for r in results), "duplicates were discarded"
    # Whether a kill struck mid-step (so objects ran again) is the schedule's business, not a
    # promise; the promise is exact counters over every object, checked above.
    # A stall (a hop killed or timed out between its hand-off write and Lambda accepting the
    # event, or timed out retrying a throttled invoke) has a fault behind it: the watchdog never
    # nudges more often than faults struck.
    struck = sum(service.get(k, 0) for k in ("killed", "timeout", "throttled_by_fault"))
    assert len(watchdog.nudges) <= struck


def test_reserved_concurrency_zero_halts_a_chain_and_resume_finishes_from_its_cursor(
    stack: LocalStack, tmp_path: Path
) -> None:
    truth = fill(stack, "halt-me", 300)
    trace = tmp_path / "trace"
    job = start_walk(stack, "halt-me", {"sleep_ms": 25, "trace": str(trace)})
    stack.wait_for_job(job.job_id, lambda j: j.hops >= 3, timeout_s=60, what="three hops")

    client = stack.client("lambda")
    client.put_function_concurrency(FunctionName="baton-worker", ReservedConcurrentExecutions=0)

    def halted(j: Job) -> bool:
        letters = [d for d in stack.lambda_.dead_letters() if d.event.get("job_id") == j.job_id]
        return (
            j.status is JobStatus.QUEUED
            and j.lease_owner is None
            and stack.lambda_.idle()
            and any(d.event["epoch"] == j.epoch for d in letters)
        )

    stopped = stack.wait_for_job(job.job_id, halted, timeout_s=30, what="a halt")
    letter = next(d for d in stack.lambda_.dead_letters() if d.event["epoch"] == stopped.epoch)
    assert letter.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert letter.attempts == 0, "no retries while concurrency is 0"
    cursor = stack.store.load_state(stopped)["start_after"]
    keys = sorted(truth.sizes)
    # The committed counters cover exactly the committed cursor (I3).
    assert stopped.counters["objects"] == keys.index(cursor) + 1
    assert stopped.counters["objects"] < len(keys), "halted before the end"
    seen_at_halt = len(read_trace(trace))

    client.delete_function_concurrency(FunctionName="baton-worker")
    resumed = stack.store.resume(job.job_id)
    assert resumed.epoch == stopped.epoch + 1
    send_event(client, stack.function.name, resumed)
    done = stack.wait_for_job(job.job_id, ended, timeout_s=60, what="its end")

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == truth.counters()
    after = [key for _, key in read_trace(trace)[seen_at_halt:]]
    assert after[0] == keys[keys.index(cursor) + 1], "the resumed chain starts after its cursor"
    assert after == keys[keys.index(cursor) + 1 :], "and finishes the walk, each object once"
    assert done.hops > stopped.hops


def test_a_worker_that_dies_mid_hop_is_resumed_by_lambdas_retry_before_its_deadline(
    tmp_path: Path,
) -> None:
    """A hop that dies early (out of memory, runtime exit) after a commit: Lambda's first retry
    (1 minute on AWS, 3 s here) takes over its lease, which lasted one term from its last
    commit, not its whole deadline. No watchdog runs on this stack; the counters are exact."""
    timeout_ms = 60_000
    function = FunctionConfig(timeout_ms=timeout_ms, retry_scale=20.0)
    with LocalStack(
        function=function,
        min_margin_ms=1_000,
        checkpoint_s=1,
        action_modules=ACTIONS,
        log_level="WARNING",
    ) as stack:
        truth = fill(stack, "crashy", 200)
        keys = sorted(truth.sizes)
        trace, marker = tmp_path / "trace", tmp_path / "crashed"
        # 100 objects of 20 ms: the hop has committed (every second, and to renew its lease)
        # before it dies.
        crash_key = keys[100]
        params = {
            "sleep_ms": 20,
            "trace": str(trace),
            "crash_key": crash_key,
            "marker": str(marker),
        }
        job = start_walk(stack, "crashy", params)
        done = stack.wait_for_job(job.job_id, ended, timeout_s=45, what="its end")
        stack.lambda_.wait_until_idle(timeout_s=30)
        invocations = list(stack.lambda_.invocations)
        service = stack.lambda_.snapshot()

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == truth.counters(), "the dead hop's uncommitted work is not counted"
    assert done.restarts == 0, "no watchdog restart"
    (crashed,) = [i for i in invocations if i.ending == "crashed"]
    retry = next(i for i in invocations if i.request_id == crashed.request_id and i.attempt == 1)
    assert retry.event == crashed.event
    assert retry.result()["outcome"] == "finished", retry.result()
    assert retry.started_at_ms - crashed.started_at_ms >= function.retry_delay_ms(1)
    assert retry.started_at_ms < crashed.started_at_ms + timeout_ms, "long before its deadline"
    assert service["retries"] == 1 and service["dead_letters"] == 0

    lines = read_trace(trace)
    crash_at = lines.index((crashed.pid, f"CRASH {crash_key}"))
    resumed = [key for pid, key in lines[crash_at + 1 :] if pid != crashed.pid]
    assert resumed[-1] == keys[-1]
    first = keys.index(resumed[0])
    assert 0 < first <= keys.index(crash_key), "the retry starts at the dead hop's last commit"
    assert resumed == keys[first:], "and walks on from there, each object once"
    processed = keys_processed(trace)
    assert {k for k, n in processed.items() if n > 1} == set(keys[first:100])


def test_a_step_that_outlives_the_timeout_is_killed_and_retried_from_the_checkpoint(
    tmp_path: Path,
) -> None:
    timeout_ms = 2_500
    with make_stack(timeout_ms=timeout_ms, min_margin_ms=600) as stack:
        truth = fill(stack, "stuck", 200)
        keys = sorted(truth.sizes)
        trace, marker = tmp_path / "trace", tmp_path / "blocked"
        block_key = keys[70]
        params = {
            "sleep_ms": 20,
            "trace": str(trace),
            "block_key": block_key,
            "marker": str(marker),
            "block_s": 120,
        }
        job = start_walk(stack, "stuck", params)
        wait_until(marker.exists, timeout_s=60, what="the step to block")
        # The holder is stuck inside the step: nothing commits until it dies, so this is the
        # last checkpoint the retry must continue from.
        blocked = stack.store.get(job.job_id)
        checkpoint = stack.store.load_state(blocked)["start_after"]
        stuck_pid = next(pid for pid, key in read_trace(trace) if key == f"BLOCK {block_key}")
        done = stack.wait_for_job(job.job_id, ended, timeout_s=90, what="its end")
        stack.lambda_.wait_until_idle(timeout_s=30)
        invocations = list(stack.lambda_.invocations)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == truth.counters(), "the killed hop's uncommitted work is not counted"
    (timed_out,) = [i for i in invocations if i.ending == "timeout"]
    assert timed_out.pid == stuck_pid
    with pytest.raises(ProcessLookupError):
        os.kill(stuck_pid, 0)
    retry = next(i for i in invocations if i.request_id == timed_out.request_id and i.attempt == 1)
    assert retry.event == timed_out.event, "Lambda's retry carries the same event: same epoch"
    assert retry.event["epoch"] == blocked.epoch
    assert retry.result()["outcome"] in ("handed_off", "finished"), retry.result()
    assert retry.started_at_ms > timed_out.started_at_ms + timeout_ms, "after the kill"

    lines = [key for _, key in read_trace(trace)]
    resumed_from = lines[lines.index(f"BLOCK {block_key}") + 1]
    assert resumed_from == keys[keys.index(checkpoint) + 1], "the retry starts at the checkpoint"
    assert keys.index(checkpoint) < keys.index(block_key)
    processed = keys_processed(trace)
    assert set(processed) == set(keys)
    # Objects between the checkpoint and the stuck one ran twice (at-least-once), no others.
    twice = {k for k, n in processed.items() if n > 1}
    assert twice == set(keys[keys.index(checkpoint) + 1 : keys.index(block_key)])
