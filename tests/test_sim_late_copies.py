"""The simulator's late copy: the first attempt of a write lands after botocore's retry of it.

`Rates.late_copy` keeps a write's first attempt on the wire while botocore, having timed out on
it, sends the request again; the retry lands and the schedule goes on; the first attempt reaches
DynamoDB up to 8 s later, from a ghost of its own (tests/sim/core.py). It strikes every kind of
write: claims, the holder's commits, operators' and the watchdog's writes, creates.

The unchained claim (planted as "unchained-claim": the claim before it read the item and
named its last write) is caught by a short sweep, and the same seeds are clean with the
store as it is. A wider sweep of late copies on every write keeps every invariant.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
from moto import mock_aws

from tests.sim.core import Rates
from tests.sim.scenario import FANOUT, Config, Env
from tests.sim.sweep import sweep

PLANT = "unchained-claim"
PLANT_SEEDS = range(0, 60)
SYNTHETIC_SEEDS = range(100, 160)
WALK_SEEDS = range(10_000, 10_015)
FANOUT_SEEDS = range(0, 3)
# Operators act in every schedule: a pause or cancel flag set on a held job meets a late copy.
OPERATOR_SEEDS = range(145, 151)
# Each of these writes met a late copy of itself at least once in the sweeps below.
KINDS = (
    "claim",
    "checkpoint",
    "hand_off",
    "release",
    "succeeded",
    "failed",
    "paused",
    "cancelled",
    "flag",
    "resume",
    "create_shard",
)
struck: Counter[str] = Counter()
caught: dict[str, int] = {}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def test_the_unchained_claim_is_caught_by_a_sweep_of_late_copies(env: Env) -> None:
    config = Config(bug=PLANT, spill=0.0, rates=Rates(late_copy=0.1))
    found = sweep(env, PLANT_SEEDS, config, stop_after=1)
    assert found.failures, f"{PLANT}: no violation in {found.schedules} schedules"
    seed, report = found.failures[0]
    violation = report.violations[0]
    assert violation.invariant == "I5" and "a hop counted twice" in violation.detail, (
        report.describe()
    )
    assert found.stats["late_copy_applied:claim"] >= 1
    caught[PLANT] = seed
    print(f"{PLANT}: caught at seed {seed} after {found.schedules} schedules: {violation}")


def test_the_same_seeds_are_clean_with_the_chained_claim(env: Env) -> None:
    last = caught.get(PLANT, PLANT_SEEDS.stop - 1)
    config = Config(spill=0.0, rates=Rates(late_copy=0.1))
    clean = sweep(env, range(PLANT_SEEDS.start, last + 1), config)
    assert not clean.failures, clean.failures[0][1].describe()
    assert clean.stats["late_copy:claim"] >= 1
    assert clean.stats["late_copy_applied:claim"] == 0


def test_late_copies_of_every_write_keep_every_invariant(env: Env) -> None:
    for seeds, config in (
        (SYNTHETIC_SEEDS, Config(rates=replace(Rates(), late_copy=0.3))),
        (WALK_SEEDS, Config(task="s3-walk", rates=replace(Rates(), late_copy=0.3))),
        (FANOUT_SEEDS, replace(FANOUT, rates=replace(Rates(), late_copy=0.3))),
        (OPERATOR_SEEDS, Config(rates=replace(Rates(), late_copy=0.3, operator=1.0))),
    ):
        result = sweep(env, seeds, config)
        struck.update(result.stats)
        assert not result.failures, result.failures[0][1].describe(tail=60)
    print({k: v for k, v in sorted(struck.items()) if k.startswith("late_copy")})
    missing = [k for k in KINDS if struck[f"late_copy:{k}"] == 0]
    assert not missing, f"never met a late copy: {missing}; struck {dict(struck)}"
