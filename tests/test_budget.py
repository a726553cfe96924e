"""The time budget yields with room for the slowest step, a commit and an invoke."""

from __future__ import annotations

from handler.budget import SAFETY_FACTOR, TimeBudget


class Remaining:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_the_configured_floor_applies_until_measurements_exceed_it() -> None:
    remaining = Remaining(15_000)
    budget = TimeBudget(remaining, min_margin_ms=10_000)
    assert budget.margin_ms() == 10_000
    assert not budget.should_yield()
    remaining.ms = 10_000
    assert budget.should_yield()


def test_the_margin_learns_from_the_slowest_step_write_and_invoke() -> None:
    budget = TimeBudget(Remaining(60_000), min_margin_ms=1_000)
    budget.observe_step(4_000)
    budget.observe_step(100)
    budget.observe_write(300)
    budget.observe_invoke(200)
    assert budget.margin_ms() == int(SAFETY_FACTOR * (4_000 + 300 + 200))
    assert budget.work_window_ms() == 60_000 - budget.margin_ms()


def test_learned_timing_seeds_the_next_hop_and_ages_out() -> None:
    first = TimeBudget(Remaining(60_000), min_margin_ms=0)
    first.observe_step(5_000)
    learned = first.learned()
    second = TimeBudget(Remaining(60_000), min_margin_ms=0, learned=learned)
    assert second.margin_ms() >= 2 * 5_000
    for _ in range(40):
        second.observe_step(10)
    assert second.margin_ms() < 1_000, "a slow step long ago no longer inflates the margin"
