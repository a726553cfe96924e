"""The benchmark page gives a verdict only where the measured interval excludes the goal."""

from __future__ import annotations

from benchmarks.report import concurrency_verdict, interval_verdict


def _fig(low: float, high: float, pairs: int = 16) -> dict[str, object]:
    return {"ratio_low": low, "ratio_high": high, "pairs": [{}] * pairs}


def test_a_verdict_needs_the_whole_interval_on_one_side_of_the_goal() -> None:
    assert interval_verdict(_fig(0.98, 1.10), 0.97).startswith("**met**")
    assert interval_verdict(_fig(0.80, 0.96), 0.97).startswith("**missed**")
    straddle = interval_verdict(_fig(0.896, 1.098), 0.97)
    assert straddle.startswith("**not shown**")
    assert "not distinguishable from the plain loop at this precision" in straddle
    # an interval below 100% but holding the goal: slower than the loop, goal not excluded
    below = interval_verdict(_fig(0.93, 0.99), 0.97)
    assert below.startswith("**not shown**") and "plain loop" not in below
    # the goal at the interval's lower end counts as reached
    assert interval_verdict(_fig(1.0, 1.2), 1.0).startswith("**met**")


def test_too_few_pairs_give_no_verdict_whatever_their_ratios() -> None:
    assert interval_verdict(_fig(0.2, 0.3, pairs=5), 0.97).startswith("**no verdict**")
    assert interval_verdict(_fig(0.2, 0.3, pairs=6), 0.97).startswith("**missed**")


def _lat(speedups: dict[int, float], knee: float) -> dict[str, object]:
    rows = [{"concurrency": n, "speedup": s} for n, s in speedups.items()]
    return {"rows": rows, "knee": knee}


def test_concurrency_is_met_only_when_every_level_up_to_16_reaches_four_fifths_of_n() -> None:
    assert concurrency_verdict(_lat({1: 1.0, 4: 3.2, 16: 12.8, 32: 9.0}, 30.0)) == "**met**"
    missed = concurrency_verdict(_lat({1: 1.0, 4: 3.9, 16: 11.5, 32: 20.0}, 25.0))
    assert missed.startswith("**missed** at 16 reached 11.5x of 12.8x, 0 of 1 rounds at or above")
    assert "below the server's measured limit" in missed
    capped = concurrency_verdict(_lat({1: 1.0, 4: 3.5, 16: 10.0, 32: 10.2}, 10.3))
    assert "above what the server's measured limit allows" in capped
    assert "4 reached" not in capped  # 32 has no goal; 4 met its own


def _rounds(n: int, speedups: list[float]) -> dict[str, object]:
    median = sorted(speedups)[(len(speedups) - 1) // 2]
    return {
        "concurrency": n,
        "speedup": median,
        "speedups": speedups,
        "speedup_low": min(speedups),
        "speedup_high": max(speedups),
    }


def test_with_rounds_the_verdict_is_the_median_rounds_and_says_how_many_reached_it() -> None:
    base = _rounds(1, [1.0, 1.0, 1.0])
    every = {"rows": [base, _rounds(16, [13.0, 14.6, 12.9])], "knee": 20.0, "rounds": 3}
    assert concurrency_verdict(every) == "**met** (median round; 16: 3 of 3 rounds at or above)"
    # One slow round: still met on the median, and the verdict says the round fell short.
    one_short = {"rows": [base, _rounds(16, [13.0, 14.6, 12.1])], "knee": 20.0, "rounds": 3}
    assert "16: 2 of 3 rounds at or above" in concurrency_verdict(one_short)
    # The median round short: missed, with the range and how many rounds reached it.
    median_short = {"rows": [base, _rounds(16, [12.5, 14.6, 12.1])], "knee": 20.0, "rounds": 3}
    verdict = concurrency_verdict(median_short)
    assert verdict.startswith("**missed** at 16 reached 12.5x (12.1-14.6x) of 12.8x")
    assert "1 of 3 rounds at or above (below the server's measured limit)" in verdict
