"""A parked fan-out parent is woken by every way one of its shards stops, not only by the
shard's own hop: an operator's cancel or pause by name, the watchdog's stall verdict or a dead
holder's request it applies, a worker that cannot build its task. No test here lets the
watchdog's backstop (a parked parent idle past the stall threshold) do the waking: each keeps
the parent fresh, so a missing wake-up leaves it parked and the test fails.

And an operator acting on the parked parent itself: its cancel or pause is carried out at once
(nobody holds it, no event is on its way) and reaches every shard; its resume runs it on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler import setup_failure
from baton.handler.runtime import use_runtime
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.lease_holder import LeaseHolder
from baton.store.records import Job, JobStatus
from tests.support import actions
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import Delivery
from tests.test_operator import operate

BUCKET = "wake-bucket"
RECORD = "tests.support.actions:record"
PREFIXES = ["a/", "b/"]
PER_PREFIX = 12
STALL_MS = WatchdogSettings().stall_after_s * 1000
runner = CliRunner()


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for prefix in PREFIXES:
            for i in range(PER_PREFIX):
                s3.put_object(Bucket=BUCKET, Key=f"{prefix}{i:03d}", Body=b"w")
        yield


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    actions.reset()
    table = f"wake-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("BATON_TABLE", table)  # a worker that cannot run records on this table
    with local_stack(timeout_ms=1_500, table=table) as s:
        operate(s, monkeypatch)
        yield s


def baton(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def park_with_one_shard_left(stack: Stack, parent: str, **params: Any) -> list[Delivery]:
    """Start a two-shard fan-out and run everything but the first shard's events: the second
    shard finishes and the parent parks, waiting for the first (still QUEUED, never run).
    Returns the first shard's held events."""
    base = {"bucket": BUCKET, "action": RECORD, "split": "prefixes", "prefixes": PREFIXES}
    stack.start({**base, **params}, task="s3-fanout", job_id=parent)
    held: list[Delivery] = []
    while stack.sim.queue:
        delivery = stack.sim.queue.popleft()
        if delivery.event["job_id"] == f"{parent}.s0000":
            held.append(delivery)
        else:
            stack.sim.deliver(delivery)
    parked = stack.job(parent)
    assert (parked.status, parked.waiting_for) == (JobStatus.QUEUED, "shards")
    assert stack.job(f"{parent}.s0001").status is JobStatus.SUCCEEDED
    assert stack.job(f"{parent}.s0000").status is JobStatus.QUEUED
    return held


def refresh(stack: Stack, parent: str) -> Job:
    """Wake the parent by hand once, so it parks again now: the watchdog's backstop, which
    wakes a parent parked longer than the stall threshold, then has nothing to do with it."""
    job = stack.job(parent)
    stack.sim.send({"job_id": parent, "epoch": job.epoch})
    stack.sim.drain()
    again = stack.job(parent)
    assert (again.status, again.waiting_for) == (JobStatus.QUEUED, "shards")
    assert again.epoch > job.epoch
    return again


def assert_failed_on(stack: Stack, parent: str, shard: str) -> None:
    job = stack.job(parent)
    assert job.status is JobStatus.FAILED, (job.status, job.waiting_for)
    assert job.last_error is not None and shard in job.last_error, job.last_error


# ------------------------------------------------------------------ shards stopped by others


def test_a_shard_cancelled_by_name_while_nobody_holds_it_wakes_its_parked_parent(
    stack: Stack,
) -> None:
    park_with_one_shard_left(stack, "byname")
    shown = baton("cancel", "byname.s0000")
    assert shown["status"] == "CANCELLED"
    stack.sim.drain()
    assert_failed_on(stack, "byname", "byname.s0000")
    assert stack.job("byname").counters["shards_cancelled"] == 1


def test_a_shard_paused_by_name_wakes_its_parent_to_show_it_and_its_resume_finishes_it(
    stack: Stack,
) -> None:
    held = park_with_one_shard_left(stack, "pauser")
    assert baton("pause", "pauser.s0000")["status"] == "PAUSED"
    stack.sim.drain()
    parent = stack.job("pauser")
    assert (parent.status, parent.waiting_for) == (JobStatus.QUEUED, "shards"), "parked again"
    assert parent.counters.get("shards_paused") == 1, "the parent looked: the pause is shown"

    stack.sim.queue.extend(held)  # the shard's first event, late: its epoch is gone
    baton("resume", "pauser.s0000")
    stack.sim.drain()
    done = stack.job("pauser")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == PER_PREFIX * len(PREFIXES)
    assert set(actions.seen.values()) == {1}


def test_a_shard_the_watchdog_fails_as_stalled_wakes_its_parked_parent(stack: Stack) -> None:
    park_with_one_shard_left(stack, "stall")  # the first shard's event is lost
    stack.clock.advance(STALL_MS + 1)
    refresh(stack, "stall")
    dog = Watchdog(
        stack.store,
        stack.runtime.lambda_client,
        "baton-worker",
        WatchdogSettings(max_restarts=0),
    )
    swept = {a.job_id: a.action for a in dog.sweep()}
    assert swept == {"stall.s0000": "failed"}, "the fresh parent is no stall"
    stack.sim.drain()
    assert_failed_on(stack, "stall", "stall.s0000")


def test_a_shard_whose_holder_died_under_a_cancel_wakes_its_parent_when_the_watchdog_applies_it(
    stack: Stack,
) -> None:
    park_with_one_shard_left(stack, "dead")
    claim = stack.store.claim("dead.s0000", 1, "dies", stack.clock.now_ms() + 1_000)
    assert isinstance(claim, LeaseHolder)
    assert stack.store.request_cancel("dead.s0000").cancel_requested, "a flag: it is held"
    stack.clock.advance(STALL_MS + 60_000)  # the holder's lease long gone
    refresh(stack, "dead")
    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    swept = {a.job_id: a.action for a in dog.sweep()}
    assert swept == {"dead.s0000": "cancelled"}
    stack.sim.drain()
    assert_failed_on(stack, "dead", "dead.s0000")


def test_a_shard_whose_worker_cannot_run_wakes_its_parent_once_it_fails(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = park_with_one_shard_left(stack, "broken", child_max_attempts=2)
    monkeypatch.setenv("BATON_CHECKPOINT_S", "0")
    use_runtime(None)  # from here on the worker builds its runtime from a broken environment
    # The worker's Lambda client for the wake-up is the simulated one.
    monkeypatch.setattr(
        setup_failure, "recording_lambda", lambda: stack.runtime.lambda_client, raising=False
    )
    stack.sim.queue.extend(held)
    for _ in range(2):  # the shard's attempts: each one counted, the last fails it
        stack.sim.deliver(stack.sim.queue.popleft())
    shard = stack.job("broken.s0000")
    assert shard.status is JobStatus.FAILED and "BATON_CHECKPOINT_S" in (shard.last_error or "")
    woken = [d.event for d in stack.sim.queue]
    assert woken == [{"job_id": "broken", "epoch": stack.job("broken").epoch}]
    monkeypatch.delenv("BATON_CHECKPOINT_S")
    use_runtime(stack.runtime)  # fixed: the parent's hop reads its shards
    stack.sim.drain()
    assert_failed_on(stack, "broken", "broken.s0000")


def test_a_shard_cancelled_as_it_hands_off_wakes_its_parked_parent(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel flagged during the shard's last step before its hand-off: the hop applies it
    after the hand-off write, with no claim to come."""
    held = park_with_one_shard_left(stack, "handoff")
    real = LeaseHolder.hand_off

    def cancel_first(holder: LeaseHolder, *args: Any, **kwargs: Any) -> Job:
        if holder.lease.job_id == "handoff.s0000":
            stack.store.request_cancel("handoff.s0000")
        return real(holder, *args, **kwargs)

    monkeypatch.setattr(LeaseHolder, "hand_off", cancel_first)
    actions.on_each.append(lambda: stack.clock.advance(200))  # a hop cannot take all 12 objects
    stack.sim.queue.extend(held)
    stack.sim.drain()
    assert stack.job("handoff.s0000").status is JobStatus.CANCELLED
    assert_failed_on(stack, "handoff", "handoff.s0000")


# ------------------------------------------------------------------ the parked parent itself


def test_a_parked_parent_cancelled_ends_at_once_and_its_cancel_reaches_every_shard(
    stack: Stack,
) -> None:
    """No event is on its way to a parked parent, and none is needed: nobody holds it, so the
    operator's command cancels it at once and passes the cancel on to every planned shard."""
    held = park_with_one_shard_left(stack, "cp")
    shown = baton("cancel", "cp")
    assert shown["status"] == "CANCELLED"
    assert shown["shards"]["cp.s0000"] == "CANCELLED"
    assert shown["shards"]["cp.s0001"].startswith("left as is"), "it had finished"
    mark = len(stack.commits)
    stack.sim.queue.extend(held)  # the shard's event comes late: refused
    stack.sim.drain()
    parent = stack.job("cp")
    assert parent.status is JobStatus.CANCELLED
    assert parent.waiting_for is None, "a cancelled job waits for nothing"
    assert baton("status", "cp")["health"] == "cancelled"
    assert stack.job("cp.s0000").status is JobStatus.CANCELLED
    assert not [c for c in stack.commits[mark:] if c.op == "claim"], "nothing ran again"
    assert not any(key.startswith("a/") for key in actions.seen), "the cancelled shard never ran"


def test_a_parked_parent_paused_then_resumed_finishes_exact(stack: Stack) -> None:
    held = park_with_one_shard_left(stack, "pp")
    shown = baton("pause", "pp")
    assert (shown["status"], shown["shards"]["pp.s0000"]) == ("PAUSED", "PAUSED")
    assert stack.job("pp").waiting_for is None
    assert stack.job("pp.s0000").pause_cascaded, "the parent's resume resumes it"
    stack.sim.queue.extend(held)
    stack.sim.drain()
    assert stack.job("pp.s0000").status is JobStatus.PAUSED, "its old event is refused"

    shown = baton("resume", "pp")
    assert shown["shards"]["pp.s0000"].startswith("resumed at epoch")
    resumed = stack.job("pp")
    assert (resumed.status, resumed.waiting_for) == (JobStatus.QUEUED, None), "its event is sent"
    assert "parked" not in baton("status", "pp")["health_reason"]
    stack.sim.drain()
    done = stack.job("pp")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == PER_PREFIX * len(PREFIXES)
    assert set(actions.seen.values()) == {1}, "every object once"


def test_resuming_a_parked_parent_wakes_it_and_it_parks_again_while_its_shard_waits(
    stack: Stack,
) -> None:
    park_with_one_shard_left(stack, "rp")
    waits = stack.job("rp").waits
    shown = baton("resume", "rp")
    assert shown["shards"]["rp.s0000"] == "left QUEUED"
    stack.sim.drain()
    parent = stack.job("rp")
    assert (parent.status, parent.waiting_for) == (JobStatus.QUEUED, "shards")
    assert parent.waits == waits + 1


def test_two_wake_ups_of_one_parked_parent_run_it_once(stack: Stack) -> None:
    """An operator's cancel of the shard and the watchdog's backstop both wake the parent: two
    events at the same epoch, and the claim takes one of them, refusing the other."""
    park_with_one_shard_left(stack, "twice")
    stack.clock.advance(STALL_MS + 1)  # the parent is now past the backstop's threshold too
    baton("cancel", "twice.s0000")
    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    assert {a.job_id: a.action for a in dog.sweep()} == {"twice": "resent"}
    epoch = stack.job("twice").epoch
    assert [d.event for d in stack.sim.queue] == [{"job_id": "twice", "epoch": epoch}] * 2
    mark = len(stack.commits)
    stack.sim.drain()
    assert_failed_on(stack, "twice", "twice.s0000")
    claims = [c for c in stack.commits[mark:] if c.op == "claim"]
    assert [(c.job_id, c.epoch) for c in claims] == [("twice", epoch)], "one hop"
    assert [r["outcome"] for r in stack.sim.results[-2:]] == ["failed", "discarded"]
