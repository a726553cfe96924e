"""The simulator's fan-out and its new checks: the real s3-fanout parent and its shards under
the same scheduler and faults (tests/sim/scenario.py FANOUT), and I7 (fan-out), I8 and I9 on
hand-made item versions, so each check is seen to fire and to stay quiet when it should.

BATON_SLOW_TESTS=1 sweeps 200 fan-out schedules instead of 4 (minutes on a loaded machine).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from baton.store.codec import CODEC_JSON_ZLIB
from tests.sim.checks import CountModel, FanOutLedgers, Ledger
from tests.sim.chooser import TapeChooser
from tests.sim.core import Actor
from tests.sim.scenario import FANOUT, Env, run_schedule
from tests.sim.sweep import sweep

SEEDS = range(0, 200) if os.environ.get("BATON_SLOW_TESTS") else range(0, 4)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def test_a_fault_free_fan_out_ends_with_every_shard_and_exact_counters(env: Env) -> None:
    report = run_schedule(env, TapeChooser([]), FANOUT.quiet())
    assert report.ok, report.describe()
    assert report.summary["status"] == "SUCCEEDED"
    shards = report.summary["shard_statuses"]
    assert (
        shards == {"SUCCEEDED": report.summary["counters"]["shards"]} and sum(shards.values()) > 1
    )
    assert report.summary["counters"]["objects"] == len(env.fan_sizes)
    assert report.summary["counters"]["bytes"] == sum(env.fan_sizes.values())
    # Every wake-up of the parked parent came from a shard that ended: with no fault, the
    # watchdog's backstop never has to send an event (a missing wake-up still ends SUCCEEDED,
    # late, so only this tells it apart).
    resent = [t for t in report.trace if " watchdog#" in t and "@invoke" in t]
    assert not resent, resent


def test_fan_out_schedules_keep_every_invariant(env: Env) -> None:
    result = sweep(env, SEEDS, FANOUT)
    assert not result.failures, result.failures[0][1].describe()
    assert result.schedules == len(SEEDS)


# ---------------------------------------------------------------------------- hand-made versions


class StubSim:
    now = 0
    start_ms = 0

    def log(self, line: str) -> None:
        pass


def actor(kind: str = "invocation", **fields: Any) -> Actor:
    made = Actor(sim=StubSim(), seq=1, kind=kind, label=f"{kind}#1", fn=lambda a: None)  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def ledger() -> Ledger:
    return Ledger(StubSim(), CountModel(10), "j")  # type: ignore[arg-type]


def version(**fields: Any) -> dict[str, Any]:
    return {"job_id": "j", "status": "RUNNING", "epoch": 1, "max_attempts": 3, **fields}


def test_i9_fails_a_job_failed_for_attempts_with_progress_between_them() -> None:
    checks = ledger()
    checks._check_attempts(version(attempts=0), version(status="QUEUED", attempts=1))
    checks._check_attempts(version(attempts=1), version(attempts=1, counters={"items": 4}))
    failed = version(status="FAILED", attempts=1, last_error="attempt 3 of 3 failed: boom")
    checks._check_attempts(version(attempts=1), failed)
    assert [v.invariant for v in checks.violations] == ["I9"]
    assert "after 1 failed attempt(s)" in checks.violations[0].detail


def test_i9_accepts_max_attempts_failures_in_a_row_and_other_failures() -> None:
    checks = ledger()
    for n in (1, 2):
        checks._check_attempts(version(attempts=n - 1), version(status="QUEUED", attempts=n))
    failed = version(status="FAILED", attempts=2, last_error="attempt 3 of 3 failed: boom")
    checks._check_attempts(version(attempts=2), failed)
    other = ledger()
    other._check_attempts(version(), version(status="FAILED", last_error="JobFailure: bad"))
    assert checks.violations == [] and other.violations == []


def hand_off(checks: Ledger, holder: Actor, now: int) -> None:
    checks.sim.now = now  # type: ignore[misc]
    prior = version(lease_owner=holder.owner)
    checks._check_hop_work(holder, prior, version(status="QUEUED", epoch=2))


def test_i8_fails_a_hop_that_hands_off_with_most_of_its_window_left() -> None:
    checks = ledger()
    starved = actor(owner="o", claimed_ms=0, deadline=4_000)
    hand_off(checks, starved, now=300)
    assert [v.invariant for v in checks.violations] == ["I8"]
    assert "3700 of its 4000 ms window left" in checks.violations[0].detail


def test_i8_exempts_the_slow_hop_and_the_next_one_only() -> None:
    checks = ledger()
    hand_off(checks, actor(owner="o", claimed_ms=0, deadline=4_000, slow_steps=1), now=300)
    hand_off(checks, actor(owner="o", claimed_ms=0, deadline=4_000), now=300)
    assert checks.violations == []
    hand_off(checks, actor(owner="o", claimed_ms=0, deadline=4_000), now=3_500)
    assert checks.violations == [], "a hop that used its window is fine"
    hand_off(checks, actor(owner="o", claimed_ms=0, deadline=4_000), now=300)
    assert [v.invariant for v in checks.violations] == ["I8"]
    assert "3 hand-offs after a slow step" in checks.violations[0].detail


def family() -> FanOutLedgers:
    return FanOutLedgers(
        StubSim(),  # type: ignore[arg-type]
        {"a/1": 1, "b/1": 2},
        "p",
        None,
        in_order=True,
        min_margin_ms=300,
    )


def shard_item(job_id: str) -> dict[str, Any]:
    return {
        "job_id": {"S": job_id},
        "parent_id": {"S": "p"},
        "status": {"S": "QUEUED"},
        "params": {"M": {"bucket": {"S": "x"}, "prefix": {"S": "a/"}}},
    }


def test_i7_fan_out_a_shard_the_parents_committed_state_does_not_name_is_an_orphan() -> None:
    checks = family()
    checks.parent.observe({"job_id": "p", "status": "RUNNING"})
    checks.created(actor(), shard_item("p.s0000"))
    assert [v.invariant for v in checks.violations] == ["I7"]
    assert "orphan" in checks.violations[0].detail


def test_i7_fan_out_no_shard_is_created_after_the_parents_cancel() -> None:
    checks = family()
    plan = zlib.compress(b'{"planned": true, "shards": [{"id": "p.s0000", "status": "PENDING"}]}')
    checks.parent.observe(
        {"job_id": "p", "status": "RUNNING", "state": plan, "state_codec": CODEC_JSON_ZLIB}
    )
    checks.created(actor(), shard_item("p.s0000"))
    assert checks.violations == []
    checks.cancel_at = 0
    checks.created(actor(), shard_item("p.s0000"))
    assert [v.invariant for v in checks.violations] == ["I7"]
    assert "after the parent's cancel was accepted" in checks.violations[0].detail
