"""Fixed defects planted back (tests/sim/planted.py): the sweep catches each, naming the
invariant and the seed, and the same seeds are clean without the plant.

Each plant is the logic from before its fix, used only here. The configurations make the
defect's trigger likely (a slow step, a crash while a request waits, an operator at a shard's
launch, transient errors) with every other fault still on. A failure prints the seed, the
violation and the replay line. The wider searches (how many schedules each plant needs from
seed 0) are in docs/architecture.md; `python -m tests.sim.chaos --task s3-fanout` runs more.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from moto import mock_aws

from tests.sim.core import Rates
from tests.sim.planted import REVERTED_FIXES
from tests.sim.scenario import FANOUT, Config, Env
from tests.sim.sweep import sweep

# Per plant: the schedules it runs under and the seeds swept (the first catching seed last).
# A schedule's random choices follow the calls the code makes, so a change in the calls it sends
# (the claim's read of the item, the by-status index's 16 shards) moves the catching seeds; the
# ranges were found again when it did, each still ending shortly after its catch.
PLANTS: dict[str, tuple[Config, range]] = {
    # One step of half a hop's window, often: the poisoned budget hands it on for good.
    "slow-step-poisons": (
        Config(
            rates=Rates(slow_step=0.08),
            slow_step_ms=(900, 1_800),
            timeout_ms=(3_000, 4_000),
            items=(20, 40),
            max_hops=(10, 16),
            spill=0.0,
        ),
        range(0, 8),
    ),
    # Operators act early, holders crash often, the deployed watchdog sweeps every 10 s.
    "rearm-wipes-intent": (
        Config(
            rates=Rates(crash=0.08, operator=1.0),
            items=(20, 40),
            max_hops=(8, 16),
            operator_window_ms=20_000,
            watchdog_every_ms=10_000,
            fault_window_ms=120_000,
            spill=0.0,
        ),
        range(0, 6),
    ),
    "plan-not-durable": (FANOUT, range(0, 1)),
    # An operator cancels within 3 s of a shard's launch, in every schedule.
    "cancelled-parent-launches": (
        replace(FANOUT, operator_at_launch=1.0, at_launch=("cancel",)),
        range(100, 127),
    ),
    # Transient errors often, two attempts: progress between two failures must reset the count.
    "attempts-from-claim": (
        Config(
            rates=Rates(task=0.15, task_kinds=("task_transient",)),
            max_attempts=(2, 2),
            items=(20, 40),
            max_hops=(8, 16),
            spill=0.0,
        ),
        range(0, 17),
    ),
}
caught: dict[str, int] = {}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def test_every_reverted_fix_has_a_schedule_that_triggers_it() -> None:
    assert list(PLANTS) == list(REVERTED_FIXES)


@pytest.mark.parametrize("bug", list(REVERTED_FIXES))
def test_the_sweep_catches_the_planted_defect(env: Env, bug: str) -> None:
    config, seeds = PLANTS[bug]
    found = sweep(env, seeds, replace(config, bug=bug), stop_after=1)
    assert found.failures, f"{bug}: no violation in seeds {seeds.start}-{seeds.stop - 1}"
    seed, report = found.failures[0]
    invariant = REVERTED_FIXES[bug]
    assert report.violations[0].invariant == invariant, report.describe()
    caught[bug] = seed
    print(f"{bug}: {invariant} at seed {seed} after {found.schedules} schedules")
    print(report.violations[0])


@pytest.mark.parametrize("bug", list(REVERTED_FIXES))
def test_the_same_seeds_are_clean_without_the_plant(env: Env, bug: str) -> None:
    config, seeds = PLANTS[bug]
    last = caught.get(bug, seeds.stop - 1)
    clean = sweep(env, range(seeds.start, last + 1), config, stop_after=1)
    assert not clean.failures, clean.failures[0][1].describe()
    assert clean.schedules == last + 1 - seeds.start
