"""Deterministic simulation, seeded sweep: fixed seeds, every fault kind on, no violation.

Each seed is one schedule (tests/sim/): a job under crashes at every named fault point,
DynamoDB/S3/Lambda errors, duplicates, late and dropped events, skew, operators and watchdog
sweeps, then recovery and, for a FAILED or PAUSED job, a resume. A failure prints the seed, the
schedule shrunk to its fewest faults, a `replay(...)` line and the trace.

Each sweep runs in two tiers (tests/support/tiers.py): its first seeds in `make test`, the rest
in `make test-slow`; the closing check holds for whatever ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.sim.core import (
    DDB_WRITE_FAULTS,
    DELIVERY_FAULTS,
    INVOKE_FAULTS,
    OPERATOR_ACTIONS,
    OTHER_FAULTS,
    S3_FAULTS,
    STEP_FAULTS,
    Rates,
)
from tests.sim.scenario import Config, Env
from tests.sim.sweep import SweepResult, first_failure, sweep
from tests.support.tiers import tiered

SYNTHETIC_SEEDS = range(0, 1_000)
WALK_SEEDS = range(10_000, 10_100)
SPILL_SEEDS = range(20_000, 20_100)
LEASE_SEEDS = range(40_000, 40_030)
FAULT_POINTS = (
    "after_claim",
    "mid_step",
    "after_checkpoint",
    "after_hand_off_write",
    "during_invoke",
    "after_finish",
)
totals: Counter[str] = Counter()
counted: dict[str, int] = {}
wanted: dict[str, int] = {}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def check(env: Env, result: SweepResult, name: str, seeds: range) -> None:
    totals.update(result.stats)
    counted[name] = result.schedules
    wanted[name] = len(seeds)
    failure = first_failure(env, result)
    if failure is not None:
        pytest.fail(failure)


@pytest.mark.parametrize("seeds", tiered(SYNTHETIC_SEEDS, quick=100))
def test_synthetic_task_under_every_fault(env: Env, seeds: range) -> None:
    result = sweep(env, seeds, Config())
    check(env, result, f"synthetic {seeds}", seeds)
    assert result.schedules == len(seeds)


@pytest.mark.parametrize("seeds", tiered(WALK_SEEDS, quick=25))
def test_s3_walk_under_every_fault(env: Env, seeds: range) -> None:
    result = sweep(env, seeds, Config(task="s3-walk"))
    check(env, result, f"walk {seeds}", seeds)
    assert result.schedules == len(seeds)


@pytest.mark.parametrize("seeds", tiered(SPILL_SEEDS, quick=25))
def test_spilled_state_under_hostile_dynamodb(env: Env, seeds: range) -> None:
    """Every state in S3, and DynamoDB faults five times as often: lost responses and writes
    landing late on spilled commits (the store bug tests/test_sim_spilled_state.py pins)."""
    result = sweep(env, seeds, Config(spill=1.0, rates=Rates(ddb=0.15)))
    check(env, result, f"spill {seeds}", seeds)
    assert result.schedules == len(seeds)


def test_a_lease_shorter_than_a_hop_is_renewed_and_a_lapsed_one_is_fenced(env: Env) -> None:
    """A lease term shorter than the hops: holders renew it at their commits; a slow step
    outlasts it, and a duplicate arriving then takes a live holder's lapsed lease over. The
    taken-over holder must commit nothing more (I1, I3), and the job still ends exact."""
    rates = Rates(slow_step=0.25, duplicate=0.5, duplicate_ms=(500, 4_000))
    result = sweep(env, LEASE_SEEDS, Config(lease_ms=700, rates=rates))
    check(env, result, "short-lease", LEASE_SEEDS)
    assert result.schedules == len(LEASE_SEEDS)
    assert result.stats["lease_lapsed_live_holder"] > 0, dict(result.stats)


@pytest.mark.slow
def test_every_fault_kind_struck_and_the_count_is_met() -> None:
    """The sweeps above are only worth their count if every kind of fault really happened. It
    runs with the long tier (`make test-slow`), over the sweeps' larger part: `make test`'s first
    slices meet every kind but the rarest (a crash during the invoke or after the finish)."""
    assert len(counted) >= 3 and counted == wanted, counted
    expected = {
        *(f"crash@{p}" for p in FAULT_POINTS),
        "crash@state_written",
        *DDB_WRITE_FAULTS,
        *INVOKE_FAULTS,
        *S3_FAULTS,
        *STEP_FAULTS,
        *DELIVERY_FAULTS,
        *OTHER_FAULTS,
        *(f"op_{a}" for a in OPERATOR_ACTIONS),
    }
    missing = sorted(k for k in expected if totals[k] == 0)
    assert not missing, f"fault kinds that never struck: {missing}; struck: {dict(totals)}"
