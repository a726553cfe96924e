"""A seeded sweep in two tiers: a slice `make test` runs, and the rest `make test-slow` runs.

A sweep is one promise checked over many schedules (every invariant under every fault). The
first slice already checks it: every fault kind strikes, every invariant is asserted. The rest
adds schedules, not promises, so it runs in the slow tier (`pytest -m slow`, `make test-slow`,
which `.ci/run` also runs): together the two tiers sweep exactly the seeds the one test did.

    @pytest.mark.parametrize("seeds", tiered(range(0, 1_000), quick=250))
    def test_every_invariant_holds(env, seeds): ...
"""

from __future__ import annotations

from typing import Any

import pytest


def tiered(seeds: range, quick: int) -> list[Any]:
    """`seeds` as two pytest params: the first `quick` seeds (id `quick`), and the rest (id
    `rest`, marked slow). Raises ValueError when the slice is empty or is the whole sweep."""
    if not 0 < quick < len(seeds):
        raise ValueError(f"the quick slice must be part of the sweep: {quick} of {len(seeds)}")
    first = range(seeds.start, seeds.start + quick * seeds.step, seeds.step)
    rest = range(first.stop, seeds.stop, seeds.step)
    return [
        pytest.param(first, id="quick"),
        pytest.param(rest, id="rest", marks=pytest.mark.slow),
    ]


def examples(quick: int, full: int) -> list[Any]:
    """For a Hypothesis sweep (its examples are drawn, not numbered): `quick` examples in
    `make test`, all `full` of them in the slow tier. Raises ValueError unless quick < full."""
    if not 0 < quick < full:
        raise ValueError(f"the quick run must be smaller than the full one: {quick} vs {full}")
    return [
        pytest.param(quick, id="quick"),
        pytest.param(full, id="full", marks=pytest.mark.slow),
    ]
