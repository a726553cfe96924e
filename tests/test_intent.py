"""Operator intent, attempt accounting, fan-out plans and the watchdog, at the worst moments.

Each test reproduces one defect of the landed code and fails on it: a cancel wiped by the
watchdog's re-arm, a spurious FAILED from a stale attempt count, a fan-out re-planned after a
crash into shards it cannot own, a cancelled fan-out still launching shards, a throttled job
nudged and failed as stalled, a watchdog that reads one page only, the kill switch forgetting the
limit it replaced, and a resume that moves shards before the parent refuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.context import CliContext
from baton.cli.main import app
from baton.handler import faults
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store import HopEnd, JobSpec, JobStatus, Progress
from baton.store.constants import FAILED_RETENTION_DAYS
from baton.store.lease_holder import LeaseHolder
from tests.support import actions
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import KillAt, Killed
from tests.test_cli import make_function
from tests.test_operator import operate

runner = CliRunner()
BUCKET = "intent-bucket"
RECORD = "tests.support.actions:record"
STALL_S = 300
FUNCTION = "baton-worker"


def baton(*args: str) -> Any:
    return runner.invoke(app, list(args))


def baton_json(*args: str) -> Any:
    result = baton(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout alone: logs go to stderr, which .output mixes in


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for d in range(10):
            for i in range(12):
                s3.put_object(Bucket=BUCKET, Key=f"p{d}/{i:03d}.dat", Body=b"x" * i)
        yield s3


@pytest.fixture
def stack(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    actions.reset()
    with local_stack(timeout_ms=1_500) as s:
        operate(s, monkeypatch)
        yield s


def claim(stack: Stack, job_id: str, epoch: int, owner: str, ms: int = 10_000) -> LeaseHolder:
    result = stack.store.claim(job_id, epoch, owner, stack.clock.now_ms() + ms)
    assert isinstance(result, LeaseHolder), result
    return result


def spec(job_id: str) -> JobSpec:
    return JobSpec(job_id, "s3-walk", {"bucket": BUCKET}, max_hops=10, max_attempts=3)


# ----------------------------------------------------------------------- defect 2


def test_a_cancel_survives_the_watchdogs_rearm_of_a_dead_holder(stack: Stack) -> None:
    """Cancel while the holder lives (only the flag is set), the holder dies, its lease expires:
    the watchdog applies the cancel instead of re-arming the job to run to its end."""
    stack.store.create(spec("c1"))
    claim(stack, "c1", 1, "doomed/1")
    flagged = baton_json("cancel", "c1")
    assert flagged["status"] == "RUNNING" and flagged["cancel_requested"]
    stack.clock.advance(STALL_S * 1000 + 1)
    swept = baton_json("watchdog", "--once")["actions"]
    assert [(a["job_id"], a["action"]) for a in swept] == [("c1", "cancelled")]
    assert stack.job("c1").status is JobStatus.CANCELLED
    assert stack.sim.invokes == [], "nothing was restarted"


def test_a_rearm_racing_a_request_keeps_the_flag_and_the_next_claim_honours_it(
    stack: Stack,
) -> None:
    """The watchdog read the job before the operator's flag landed, then re-armed it."""
    stack.store.create(spec("c2"))
    claim(stack, "c2", 1, "doomed/1", ms=1_000)
    seen_by_watchdog = stack.job("c2")
    assert stack.store.request_pause("c2").pause_requested
    stack.clock.advance(60_000)
    rearmed = stack.store.rearm(seen_by_watchdog)
    assert rearmed.epoch == 2 and rearmed.pause_requested, "the re-arm kept the request"
    stack.sim.send({"job_id": "c2", "epoch": 2})
    stack.sim.drain()
    done = stack.job("c2")
    assert done.status is JobStatus.PAUSED and done.counters == {}


def test_a_pause_after_an_accepted_cancel_does_not_replace_it(stack: Stack) -> None:
    stack.store.create(spec("c3"))
    claim(stack, "c3", 1, "doomed/1", ms=1_000)
    assert stack.store.request_cancel("c3").cancel_requested
    stack.clock.advance(60_000)  # the holder died; its lease expired
    assert stack.store.request_pause("c3").status is JobStatus.CANCELLED


# ----------------------------------------------------------------------- defect 5


def test_attempts_count_from_the_last_commit_not_from_the_claim(stack: Stack) -> None:
    """Two failures, then progress (which resets attempts), then one failure: a retry, not
    'attempt 3 of 3'."""
    stack.store.create(spec("a1"))
    for owner in ("r1", "r2"):
        c = claim(stack, "a1", 1, owner)
        assert c.record_failure("Throttled", HopEnd(0, "error")).will_retry
    c = claim(stack, "a1", 1, "r3")
    assert c.job.attempts == 2
    c.checkpoint(Progress({"start_after": "p0/005.dat"}, {"objects": 6}))
    assert not c.will_fail_on_error()
    outcome = c.record_failure("SlowDown on GET", HopEnd(0, "error"))
    assert outcome.will_retry and outcome.job.status is JobStatus.QUEUED
    assert outcome.job.attempts == 1 and outcome.job.counters == {"objects": 6}


# ----------------------------------------------------------------------- defect 7


def test_a_failed_job_outlives_the_retention_of_finished_ones(stack: Stack) -> None:
    stack.store.create(spec("f1"))
    c = claim(stack, "f1", 1, "r1")
    c.fail("boom", HopEnd(0, "failed"))
    expires = stack.store.model.get("f1").expires_at
    assert expires is not None
    now = datetime.fromtimestamp(stack.clock.now_ms() / 1000, tz=UTC)
    assert (expires - now).days >= FAILED_RETENTION_DAYS - 1


def test_kill_switch_off_restores_the_limit_it_replaced(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_function(FUNCTION)
    client = boto3.client("lambda", region_name="us-east-1")
    monkeypatch.setattr(CliContext, "lambda_client", property(lambda self: client))
    client.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=7)
    assert baton_json("kill-switch", "on")["reserved_concurrency"] == 0
    assert baton_json("kill-switch", "on")["reserved_concurrency"] == 0, "twice is harmless"
    off = baton_json("kill-switch", "off")
    assert off == {"function": FUNCTION, "kill_switch": False, "reserved_concurrency": 7}
    # With no limit before the switch, off leaves none.
    client.delete_function_concurrency(FunctionName=FUNCTION)
    baton_json("kill-switch", "on")
    assert baton_json("kill-switch", "off")["reserved_concurrency"] is None


# ----------------------------------------------------------------------- watchdog (6, 7)


def _stale_queued(stack: Stack, n: int) -> None:
    for i in range(n):
        stack.store.create(spec(f"q{i:03d}"))
    stack.clock.advance(STALL_S * 1000 + 1)


def test_a_queued_job_behind_busy_reserved_slots_is_waiting_not_stalled(
    stack: Stack,
) -> None:
    """Reserved concurrency 2, both slots held by live leases: the stale QUEUED job's event is
    in Lambda's queue. No re-send is added to the backlog and nothing counts against it."""
    make_function(FUNCTION)
    stack.runtime.lambda_client.put_function_concurrency(
        FunctionName=FUNCTION, ReservedConcurrentExecutions=2
    )
    _stale_queued(stack, 1)
    for name in ("busy1", "busy2"):
        stack.store.create(spec(name))
        claim(stack, name, 1, f"{name}/1", ms=600_000)
    watchdog = Watchdog(stack.store, stack.runtime.lambda_client, FUNCTION, WatchdogSettings())
    for _ in range(5):
        swept = watchdog.sweep()
        assert [(a.job_id, a.action) for a in swept] == [("q000", "waiting")]
        stack.clock.advance(STALL_S * 1000 + 1)
        for name in ("busy1", "busy2"):  # the running hops commit and keep their leases
            job = stack.job(name)
            stack.store.model(name).update(
                actions=[stack.store.model.lease_expires_ms.set(stack.clock.now_ms() + 600_000)]
            )
            assert job.status is JobStatus.RUNNING
    assert stack.sim.invokes == [] and stack.job("q000").restarts == 0
    assert stack.job("q000").status is JobStatus.QUEUED


def test_the_watchdog_reads_every_page_of_candidates(stack: Stack) -> None:
    _stale_queued(stack, 130)
    make_function(FUNCTION)
    watchdog = Watchdog(stack.store, stack.runtime.lambda_client, FUNCTION, WatchdogSettings())
    swept = watchdog.sweep()
    assert sorted(a.job_id for a in swept) == [f"q{i:03d}" for i in range(130)]
    assert {a.action for a in swept} == {"resent"}


# ----------------------------------------------------------------------- fan-out (3, 4, 7)


def start_parent(stack: Stack, job_id: str, **params: Any) -> None:
    base = {"bucket": BUCKET, "action": RECORD, "max_concurrency": 2, "poll_s": 2}
    stack.start({**base, **params}, task="s3-fanout", job_id=job_id)


def created_shards(stack: Stack, parent: str) -> set[str]:
    return {c.job_id for c in stack.commits if c.op == "create" and c.job_id.startswith(parent)}


def test_a_crash_after_launch_and_a_changed_bucket_leave_no_orphan_shard(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent plans (step 1), launches (step 2) and dies before its first checkpoint;
    meanwhile a new prefix appears. The retry must not re-plan into shards it cannot own."""
    actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n == 2)
    with local_stack(timeout_ms=1_500, faults=kill) as stack:
        operate(stack, monkeypatch)
        start_parent(stack, "fo")
        stack.sim.deliver(stack.sim.queue.popleft())
        assert kill.kills == 1 and isinstance(stack.sim.errors[-1], Killed)
        aws.put_object(Bucket=BUCKET, Key="p05/new.dat", Body=b"new")  # shifts every cut
        stack.sim.drain()
        parent = stack.job("fo")
        assert parent.status is JobStatus.SUCCEEDED, parent.last_error
        planned = {s["id"] for s in stack.store.load_state(parent)["shards"]}
        assert created_shards(stack, "fo.") == planned, "every shard that exists is the parent's"
        status = baton_json("status", "fo")
        assert {s["job_id"] for s in status["shards"]} == planned
        assert parent.counters["objects"] == 121


class CancelAt:
    """An operator's `baton cancel` at the worst moment: mid-hop of the running parent."""

    def __init__(self, parent: str, on_hit: int) -> None:
        self.parent = parent
        self.on_hit = on_hit
        self.hits = 0
        self.outcome: dict[str, str] = {}
        self.struck = False

    def hit(self, point: str) -> None:
        if point != faults.MID_STEP:
            return
        self.hits += 1
        if self.hits == self.on_hit:
            self.struck = True
            self.outcome = baton_json("cancel", self.parent).get("shards", {})


def test_a_cancelled_running_fan_out_launches_nothing_more(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions.reset()
    cancel = CancelAt("fc", on_hit=2)  # the parent's step that launched the first shards
    with local_stack(timeout_ms=1_500, faults=cancel) as stack:
        operate(stack, monkeypatch)
        start_parent(stack, "fc")
        stack.sim.deliver(stack.sim.queue.popleft())
        assert cancel.struck, "the cancel struck while the parent held its lease"
        before = created_shards(stack, "fc.")
        assert len(before) == 2
        stack.sim.drain()
        assert stack.job("fc").status is JobStatus.CANCELLED
        assert created_shards(stack, "fc.") == before, "no shard started after the cancel"
        for shard in stack.store.get_many(sorted(before)):
            # Launched before the cancel but not yet run: the parent passed the cancel on.
            assert shard.status is JobStatus.CANCELLED and shard.counters == {}


class CancelWhenHeld:
    """`baton cancel PARENT` while the parent holds its lease in a later hop, when its
    committed state names started shards (the CLI's cascade then frees their slots)."""

    def __init__(self, stack: Stack, parent: str) -> None:
        self.stack = stack
        self.parent = parent
        self.struck_at = -1

    def hit(self, point: str) -> None:
        if point != faults.MID_STEP or self.struck_at >= 0:
            return
        job = self.stack.job(self.parent)
        if job.status is JobStatus.RUNNING and job.hops >= 1:
            self.struck_at = len(self.stack.commits)
            baton_json("cancel", self.parent)


def test_a_fan_out_cancelled_in_a_later_hop_fills_no_freed_slot(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions.reset()
    with local_stack(timeout_ms=1_500) as stack:
        operate(stack, monkeypatch)
        cancel = CancelWhenHeld(stack, "fl")
        stack.runtime.faults = cancel
        start_parent(stack, "fl")
        stack.sim.drain()
        assert cancel.struck_at >= 0 and stack.job("fl").status is JobStatus.CANCELLED
        late = [
            c.job_id
            for c in stack.commits[cancel.struck_at :]
            if c.op == "create" and c.job_id.startswith("fl.")
        ]
        assert late == [], f"shards started after the cancel: {late}"
        for shard in stack.store.get_many(sorted(created_shards(stack, "fl."))):
            assert shard.status in (JobStatus.CANCELLED, JobStatus.SUCCEEDED)


def test_resume_of_a_parent_that_refuses_moves_no_shard(stack: Stack) -> None:
    start_parent(stack, "fr")
    stack.sim.deliver(stack.sim.queue.popleft())  # plans, launches two shards, hands off
    shard = sorted(created_shards(stack, "fr."))[0]
    assert baton_json("pause", shard)["status"] == "PAUSED"
    parent = stack.job("fr")
    assert parent.status is JobStatus.QUEUED
    claim(stack, "fr", parent.epoch, "busy/1")
    refused = baton("resume", "fr")
    assert refused.exit_code == 1 and "refuses a live lease" in refused.output
    assert stack.job(shard).status is JobStatus.PAUSED, "the refused resume touched no shard"
