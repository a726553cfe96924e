"""The time budget yields with room for the slowest step, a commit and an invoke, and what it
learns cannot starve later hops."""

from __future__ import annotations

import random

from baton.handler.budget import MAX_MARGIN_FRACTION, SAFETY_FACTOR, TimeBudget


class Remaining:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_the_configured_floor_applies_until_measurements_exceed_it() -> None:
    remaining = Remaining(60_000)
    budget = TimeBudget(remaining, min_margin_ms=10_000)
    assert budget.margin_ms() == 10_000
    assert not budget.should_yield_at(remaining())
    remaining.ms = 10_000
    assert budget.should_yield_at(remaining())


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


def test_the_margin_read_before_every_step_follows_every_observation() -> None:
    """The relay reads the margin before each step; what it reads must be what a budget that
    saw the same observations and was never read says (the margin is kept between reads)."""
    rng = random.Random(7)
    learned = {"step_ms": 900, "write_ms": 40, "invoke_ms": 30}
    read = TimeBudget(Remaining(600_000), min_margin_ms=100, learned=learned)
    history: list[tuple[str, int, int]] = []
    for _ in range(400):
        kind = rng.choice(("step", "step", "step", "slow", "write", "invoke"))
        ms = rng.randrange(0, 5) if kind == "step" else rng.randrange(0, 3_000)
        sized = rng.randrange(0, ms + 1) if kind != "write" and rng.random() < 0.2 else 0
        history.append((kind, ms, sized))
        apply_observation(read, kind, ms, sized)
        fresh = TimeBudget(Remaining(600_000), min_margin_ms=100, learned=learned)
        for past in history:
            apply_observation(fresh, *past)
        assert read.margin_ms() == fresh.margin_ms(), history[-3:]
        assert read.learned() == fresh.learned()


def apply_observation(budget: TimeBudget, kind: str, ms: int, sized: int) -> None:
    if kind in ("step", "slow"):
        budget.observe_step(ms, 1, sized)
    elif kind == "write":
        budget.observe_write(ms)
    else:
        budget.observe_invoke(ms)


class Clock:
    """A hop's remaining time, spent by the steps a test makes."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def run_hop(
    learned: dict[str, int],
    hop_ms: int,
    steps: list[int],
    fast_ms: int = 1,
    min_margin_ms: int = 1_000,
) -> tuple[int, dict[str, int]]:
    """The relay's loop over one hop: at least one step, then steps until the budget yields.
    `steps` are the first steps' costs; later ones cost `fast_ms`. Returns (steps, learned)."""
    clock = Clock(hop_ms)
    budget = TimeBudget(clock, min_margin_ms=min_margin_ms, learned=learned)
    budget.observe_write(20)  # the claim
    done = 0
    while done == 0 or not budget.should_yield_at(clock.ms):
        cost = steps[done] if done < len(steps) else fast_ms
        clock.ms -= cost
        budget.observe_step(cost)
        done += 1
        if clock.ms <= 0:
            break
    return done, budget.learned()


def test_a_poisoned_learned_step_does_not_starve_the_next_hops() -> None:
    """Defect 1, with TimeBudget alone: step_ms 460 s handed on used to give 1 step per hop
    with 900 s left, forever. Now the margin is bounded and the carried step decays."""
    learned = {"step_ms": 460_000, "write_ms": 50, "invoke_ms": 30, "margin_ms": 920_160}
    budget = TimeBudget(Clock(900_000), min_margin_ms=10_000, learned=learned)
    assert budget.margin_ms() <= MAX_MARGIN_FRACTION * 900_000
    seen = []
    for _ in range(4):
        steps, learned = run_hop(learned, 900_000, [], fast_ms=50)
        seen.append((steps, learned["step_ms"]))
    # Each hop works until only the bounded margin is left: ~ (1 - fraction) of its window.
    for steps, _ in seen:
        assert steps * 50 >= (1 - MAX_MARGIN_FRACTION) * 900_000 - 1_000
    assert [carried for _, carried in seen] == [230_000, 115_000, 57_500, 28_750]


def test_one_slow_step_costs_its_hop_a_share_and_later_hops_recover() -> None:
    """A step that took half the timeout: its own hop still works, and so do the next ones."""
    first, learned = run_hop({}, 900_000, [460_000], fast_ms=50)
    assert first * 50 > 400_000, "after the slow step the hop keeps working until its margin"
    second, learned = run_hop(learned, 900_000, [], fast_ms=50)
    third, _ = run_hop(learned, 900_000, [], fast_ms=50)
    assert second * 50 >= 900_000 - 2_000 and third * 50 >= 900_000 - 2_000


def test_the_configured_floor_is_a_hard_line_even_for_a_hop_that_starts_late() -> None:
    """A cold start ate most of a 2 s hop: the 1.2 s floor still stays in hand for the hand-off."""
    steps, learned = run_hop({}, 1_500, [], min_margin_ms=1_200)
    assert steps == 300 and learned["margin_ms"] == 1_200


def test_short_hops_with_a_small_floor_work_most_of_their_window() -> None:
    """A carried 2 s step under a 3 s hop: the margin is the 1 s floor, not 4 s."""
    steps, learned = run_hop({"step_ms": 2_000}, 3_000, [400])
    assert steps >= 3_000 - 1_000 - 400
    assert learned["margin_ms"] == 1_000 and learned["step_ms"] == 1_000


def test_the_per_item_time_is_the_hops_own_once_measured() -> None:
    budget = TimeBudget(Clock(60_000), min_margin_ms=0, learned={"item_us": 460_000_000})
    assert budget.item_ms() == 460_000, "before any item: what the last hop carried"
    budget.observe_step(30, items=0)  # a listing
    budget.observe_step(2, items=1)
    budget.observe_step(2, items=1)
    assert budget.item_ms() == 17.0
    assert budget.learned()["item_us"] == 17_000


def test_a_slow_write_is_not_carried_past_a_hop_that_measures_its_own() -> None:
    budget = TimeBudget(Clock(60_000), min_margin_ms=0, learned={"write_ms": 9_000})
    assert budget.write_ms() == 9_000
    budget.observe_write(15)
    assert budget.write_ms() == 15


# ---------------------------------------------------------------------- short hops


def listing_hop(
    learned: dict[str, int], hop_ms: int, page_ms: int, page_keys: int, min_margin_ms: int
) -> tuple[int, TimeBudget]:
    """A walk's hop under the relay's loop: each page's wait (sized to the window, as s3-walk
    sizes it) is reported as sized; the objects themselves cost nothing measurable."""
    clock = Clock(hop_ms)
    budget = TimeBudget(clock, min_margin_ms=min_margin_ms, learned=learned)
    budget.observe_write(40)  # the claim
    items = 0
    while items == 0 or not budget.should_yield_at(clock.ms):
        if items % page_keys == 0:
            clock.ms -= page_ms
            budget.observe_step(page_ms + 1, items=1, sized_ms=page_ms)
        else:
            budget.observe_step(0, items=1)
        items += 1
        if clock.ms <= 0:
            break
    return items, budget


def test_a_window_sized_page_is_not_reserved_in_the_margin() -> None:
    """A 3 s hop listing 1,000-key pages that take 700 ms each: the margin holds the writes
    and the largest step of fixed cost, not a whole page (that left a quarter of every hop
    unused)."""
    items, budget = listing_hop({}, 3_000, 700, 1_000, min_margin_ms=200)
    assert budget.step_ms() == 1
    assert budget.margin_ms() == max(200, int(SAFETY_FACTOR * (1 + 40)))
    # Four pages fit the 2.8 s window: the hop works until the margin, not until 75 %.
    assert items > 3_000


def test_a_sized_wait_counts_in_the_per_item_time_but_not_the_step_cost() -> None:
    budget = TimeBudget(Clock(60_000), min_margin_ms=0)
    budget.observe_step(800, items=1, sized_ms=780)
    budget.observe_step(0, items=999)
    assert budget.step_ms() == 20
    assert budget.item_ms() == 0.8, "the page's wait is part of what each object costs"
    assert budget.learned()["step_ms"] == 20


def test_a_sized_wait_larger_than_its_step_counts_as_a_free_step() -> None:
    budget = TimeBudget(Clock(60_000), min_margin_ms=0)
    budget.observe_step(10, items=1, sized_ms=50)
    assert budget.step_ms() == 0 and budget.item_ms() == 10.0


def test_a_hop_with_room_does_work_in_proportion_to_its_window() -> None:
    """Twice the time, at least twice the work, for hops of 3 s to 15 min with the same steps."""
    done = {}
    for hop_ms in (3_000, 6_000, 60_000, 900_000):
        steps, _ = run_hop({"step_ms": 300, "write_ms": 40}, hop_ms, [], fast_ms=5, min_margin_ms=0)
        done[hop_ms] = steps
        assert steps * 5 >= (1 - MAX_MARGIN_FRACTION) * hop_ms - 5
    assert done[6_000] >= 2 * done[3_000]
    assert done[900_000] >= 15 * done[60_000]


def test_a_slow_steps_cost_decays_within_two_hops() -> None:
    """A 2 s step at the end of a hop is carried to the next at half its cost, and neither of
    the next two hops does less work than a hop that never saw it."""
    _, learned = run_hop({}, 10_000, [5] * 1_500 + [2_000], fast_ms=5, min_margin_ms=100)
    assert learned["step_ms"] == 2_000, "the slow step was among the hop's last"
    clean, _ = run_hop({}, 10_000, [], fast_ms=5, min_margin_ms=100)
    second, learned = run_hop(learned, 10_000, [], fast_ms=5, min_margin_ms=100)
    assert learned["step_ms"] == 1_000
    third, learned = run_hop(learned, 10_000, [], fast_ms=5, min_margin_ms=100)
    assert learned["step_ms"] == 500
    assert second == clean and third == clean


def test_the_margin_never_exceeds_the_cap_or_falls_under_the_floor() -> None:
    """Whatever was measured or carried in (seeded, not timed): floor <= margin <= cap."""
    rng = random.Random(13)
    for _ in range(2_000):
        hop_ms = rng.choice([1_000, 3_000, 10_000, 60_000, 900_000])
        floor = rng.choice([0, 100, 500, 10_000])
        learned = {
            "step_ms": rng.randrange(0, 2_000_000),
            "write_ms": rng.randrange(0, 100_000),
            "invoke_ms": rng.randrange(0, 100_000),
        }
        clock = Clock(hop_ms)
        budget = TimeBudget(clock, min_margin_ms=floor, learned=learned)
        for _ in range(rng.randrange(0, 40)):
            cost = rng.randrange(0, 3 * hop_ms)
            budget.observe_step(
                cost, items=rng.randrange(0, 3), sized_ms=rng.randrange(0, cost + 1)
            )
            if rng.random() < 0.2:
                budget.observe_write(rng.randrange(0, hop_ms))
        margin = budget.margin_ms()
        assert margin >= floor
        assert margin <= max(floor, int(MAX_MARGIN_FRACTION * hop_ms))
