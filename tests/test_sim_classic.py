"""The classic recipe under the simulator's faults: what docs/classic-recipe.md reports.

The same seeds through baton and through the classic recipe (state in the event, a fixed
10-second margin, no store): baton keeps every invariant; the recipe forks, redoes work, loses
chains, and stops at the async payload ceiling. `make compare` writes the full table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tests.sim import compare
from tests.sim.chooser import RandomChooser
from tests.sim.classic import run_classic
from tests.sim.core import Rates
from tests.sim.scenario import Env, run_schedule

SEEDS = range(12)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def classic(env: Env, seed: int, **overrides: object) -> compare.ClassicReport:
    options: dict[str, object] = {
        "items": compare.ITEMS,
        "grow": 0,
        "rates": compare.RATES,
        "timeout_ms": compare.TIMEOUT_MS,
        "fault_window_ms": compare.BATON.fault_window_ms,
        "step_ms": compare.STEP_MS,
        "slow_step_ms": compare.SLOW_MS,
        "payload_limit": 1_048_576,
    }
    options.update(overrides)
    return run_classic(env, RandomChooser(seed), **options)  # type: ignore[arg-type]


def test_same_seeds_baton_keeps_its_invariants_and_the_recipe_forks(env: Env) -> None:
    baton, recipe = compare.Tally(), compare.Tally()
    for seed in SEEDS:
        report = run_schedule(env, RandomChooser(seed), compare.BATON)
        assert report.ok, report.describe()
        assert report.summary["status"] == "SUCCEEDED"
        compare.baton_tally(baton, report)
        compare.classic_tally(recipe, classic(env, seed))
    assert baton.forked == 0 and baton.lost == 0
    assert recipe.forked >= 1, "duplicates and retried hand-offs fork the classic chain"
    assert recipe.extra_work > baton.extra_work


def test_without_faults_the_recipe_works(env: Env) -> None:
    """The recipe is not a straw man: with nothing going wrong it does the job once."""
    report = classic(env, 0, rates=Rates.none())
    assert report.finished == 1 and report.exact and report.forks == 0
    assert report.extra_work == 0


def test_a_growing_state_hits_the_payload_ceiling(env: Env) -> None:
    report = classic(
        env,
        0,
        items=700,
        grow=1_024,
        rates=Rates.none(),
        fault_window_ms=0,
        step_ms=(50, 150),
        payload_limit=262_144,
    )
    assert report.too_large >= 1
    assert 0 < report.too_large_at <= 700
    assert report.lost, "the state lived only in the refused event"


def test_make_compare_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "classic-recipe.md"
    assert compare.main(["--schedules", "2", "--grow-runs", "0", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| forked chains" in text and "| lost progress" in text
    assert "payload ceiling" in text


def test_the_recipe_at_its_strongest_neither_forks_nor_loses_but_redoes_more(env: Env) -> None:
    """Idempotency keyed on the hand-off stops the forks (and is what stops them: it suppressed
    duplicates), the redrive brings back what the destination caught; the retried hops still
    redo more work than baton's checkpoints allow."""
    baton, strong = compare.Tally(), compare.Tally()
    for seed in SEEDS:
        compare.baton_tally(baton, run_schedule(env, RandomChooser(seed), compare.BATON))
        compare.classic_tally(strong, classic(env, seed, strong=True))
    assert strong.forked == 0 and strong.lost == 0
    assert strong.suppressed >= 1, "duplicate hand-offs reached the recipe and were suppressed"
    assert strong.extra_work > baton.extra_work


def test_the_strong_recipe_carries_a_growing_state_past_the_payload_ceiling(env: Env) -> None:
    report = classic(
        env,
        0,
        items=700,
        grow=1_024,
        rates=Rates.none(),
        fault_window_ms=0,
        step_ms=(50, 150),
        payload_limit=262_144,
        strong=True,
    )
    assert report.too_large == 0
    assert report.finished == 1 and report.exact
