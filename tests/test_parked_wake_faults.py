"""A parked fan-out parent is still woken when a fault strikes between a shard's (or the
parent's own) write and the wake-up that should follow it: an invocation that dies after its
write and is retried by Lambda, a write whose answer and read-back are both lost, and a watchdog
that finds every reserved slot busy. As in tests/test_parked_wake.py, no test lets the
watchdog's backstop (a parent parked longer than the stall threshold) do the waking: a missing
wake-up leaves the parent parked and the test fails.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from baton.handler import faults
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.lease_holder import LeaseHolder
from baton.store.records import Job, JobStatus
from tests.support import actions
from tests.support import lost_answers as la
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import FUNCTION, RETRY_DELAY_MS, KillAt
from tests.test_parked_wake import (
    BUCKET,
    PER_PREFIX,
    PREFIXES,
    STALL_MS,
    assert_failed_on,
    aws,  # noqa: F401 (the bucket fixture, used by name)
    park_with_one_shard_left,
)


@pytest.fixture
def stack(aws: None) -> Iterator[Stack]:  # noqa: F811 (aws: the imported fixture)
    actions.reset()
    with local_stack(timeout_ms=1_500) as s:
        yield s


def assert_succeeded_exact(stack: Stack, parent: str) -> None:
    job = stack.job(parent)
    assert job.status is JobStatus.SUCCEEDED, (job.status, job.waiting_for, job.last_error)
    assert job.counters["objects"] == PER_PREFIX * len(PREFIXES)
    assert job.counters["shards_succeeded"] == len(PREFIXES)
    assert set(actions.seen.values()) == {1}, "every object once"


RECORD = actions.__name__ + ":record"


def test_a_shard_that_dies_after_its_finish_wakes_its_parent_on_lambdas_retry(
    stack: Stack,
) -> None:
    """The shard's finish lands, then its sandbox dies before the wake-up. Lambda retries the
    invocation a minute later: its claim finds the shard SUCCEEDED, and that retry is the last
    event anyone sends for the shard, so it must wake the parent."""
    held = park_with_one_shard_left(stack, "diesdone")
    kill = KillAt(faults.AFTER_FINISH, lambda n: n == 1)
    stack.runtime.faults = kill
    stack.sim.queue.extend(held)
    stack.sim.drain()
    assert kill.kills == 1, "the shard never died after its finish: the test proves nothing"
    assert stack.job("diesdone.s0000").status is JobStatus.SUCCEEDED
    assert RETRY_DELAY_MS < STALL_MS, "the retry comes long before the watchdog's backstop"
    assert_succeeded_exact(stack, "diesdone")


def test_a_shard_whose_finish_outcome_is_unknown_but_landed_wakes_its_parent(
    stack: Stack,
) -> None:
    """The shard's finish lands, its answer is lost, botocore's retry is refused and the read-back
    fails too: the relay releases the attempt, that release is refused, and the relay finds its
    own finish had landed. The shard has ended, so its parked parent must be woken."""
    held = park_with_one_shard_left(stack, "unknown")
    client = stack.store.model._get_connection().connection.client
    hook = la.LoseAnswers()
    la.install(client, hook)
    failing = la.FailRequests()
    client.meta.events.register_first("before-send.dynamodb", failing, unique_id="fail-get")
    attempts = client.meta.config.retries["total_max_attempts"]

    def the_shards_finish(op: str, body: dict[str, Any]) -> bool:
        shard = body.get("Key", {}).get("job_id", {}).get("S") == "unknown.s0000"
        return shard and la.status_write("SUCCEEDED")(op, body)

    def then_fail_the_read_back() -> None:
        failing.fail(lambda op, body: op == "GetItem", times=attempts)

    hook.lose(the_shards_finish)
    hook.meanwhile = then_fail_the_read_back
    stack.sim.queue.extend(held)
    stack.sim.drain()
    assert not hook.armed and failing.failed == attempts, "the outcome was never unknown"
    assert stack.job("unknown.s0000").status is JobStatus.SUCCEEDED
    assert_succeeded_exact(stack, "unknown")


def test_a_parent_that_dies_after_parking_is_woken_by_lambdas_retry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last shard stops between the parent's read of its shards and the parent's park (its
    wake-up finds the parent running, so it sends none), then the parent's sandbox dies after
    the park write, before it reads its shards again. Lambda's retry of that invocation is the
    only one who knows: it must wake the parent rather than discard itself."""
    park_with_one_shard_left(stack, "parkdies")
    real = LeaseHolder.park

    def shard_stops_first(holder: LeaseHolder, *args: Any, **kwargs: Any) -> Job:
        if holder.lease.job_id == "parkdies":
            stopped = stack.store.request_cancel("parkdies.s0000")
            assert stopped.status is JobStatus.CANCELLED
        return real(holder, *args, **kwargs)

    monkeypatch.setattr(LeaseHolder, "park", shard_stops_first)
    kill = KillAt(faults.AFTER_HAND_OFF_WRITE, lambda n: n == 1)
    stack.runtime.faults = kill
    job = stack.job("parkdies")
    stack.sim.send({"job_id": "parkdies", "epoch": job.epoch})
    stack.sim.drain()
    assert kill.kills == 1, "the parent never died after its park: the test proves nothing"
    assert_failed_on(stack, "parkdies", "parkdies.s0000")


def test_the_watchdog_wakes_a_parked_parent_whose_wake_up_was_lost_while_every_slot_is_busy(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parked parent has no event in Lambda's queue: while every reserved slot is busy the
    watchdog must still send it one (it waits there for a slot), not report it as queued behind
    the running hops, or a wake-up lost under a busy worker is never made good. Once sent, that
    event does wait in the queue: later sweeps leave it there, and never fail the parent as
    stalled for the time it spends behind the busy slots."""
    held = park_with_one_shard_left(stack, "busy")
    stack.sim.lose = lambda event: event["job_id"] == "busy"  # the shard's wake-up is lost
    stack.sim.queue.extend(held)
    stack.sim.drain()
    assert stack.job("busy.s0000").status is JobStatus.SUCCEEDED
    assert stack.sim.lost, "the wake-up was never lost: the test proves nothing"
    stack.sim.lose = lambda event: False
    dog = Watchdog(stack.store, stack.runtime.lambda_client, FUNCTION, WatchdogSettings())
    monkeypatch.setattr(dog, "reserved_concurrency", lambda: 1)
    seen = []
    for sweep in range(WatchdogSettings().max_restarts + 2):
        stack.clock.advance(STALL_MS + 1)
        # Another job (with nothing to walk) holds the one reserved slot at every sweep.
        hog = f"hog{sweep}"
        stack.start({"bucket": BUCKET, "prefix": "none/", "action": RECORD}, job_id=hog)
        stack.sim.queue = deque(d for d in stack.sim.queue if d.event["job_id"] != hog)
        assert isinstance(
            stack.store.claim(hog, 1, "hog", stack.clock.now_ms() + STALL_MS), LeaseHolder
        )
        seen.append({a.job_id: a.action for a in dog.sweep()}.get("busy"))
    assert seen == ["resent", *["waiting"] * (len(seen) - 1)], seen
    assert [d.event["job_id"] for d in stack.sim.queue].count("busy") == 1, "one event queued"
    stack.sim.drain()
    assert_succeeded_exact(stack, "busy")


def test_an_operators_resume_of_the_parked_parent_while_a_wake_up_is_in_flight_runs_it_once(
    stack: Stack,
) -> None:
    """The last shard ends and its wake-up is on its way at the parked epoch; the operator
    resumes the parent meanwhile (a new epoch, its own event). The older wake-up is refused as
    stale, the parent runs once and ends exact."""
    held = park_with_one_shard_left(stack, "inflight")
    parked = stack.job("inflight")
    stack.sim.lose = lambda event: event["job_id"] == "inflight"  # keep the wake-up aside
    stack.sim.queue.extend(held)
    stack.sim.drain()
    wake = [e for e in stack.sim.lost if e["job_id"] == "inflight"]
    assert wake == [{"job_id": "inflight", "epoch": parked.epoch}], "the shard sent its wake-up"
    stack.sim.lose = lambda event: False
    resumed = stack.store.resume("inflight")
    assert (resumed.epoch, resumed.waiting_for) == (parked.epoch + 1, None)
    mark = len(stack.commits)
    stack.sim.send(wake[0])  # the wake-up arrives after the resume ...
    stack.sim.send({"job_id": "inflight", "epoch": resumed.epoch})  # ... and the resume's event
    stack.sim.drain()
    claims = [(c.job_id, c.epoch) for c in stack.commits[mark:] if c.op == "claim"]
    assert claims == [("inflight", resumed.epoch)], "one hop, at the resumed epoch"
    assert_succeeded_exact(stack, "inflight")
