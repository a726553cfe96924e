"""The simulator must catch planted protocol bugs, and shrink the schedule that shows them.

A green simulation means little unless the same simulation turns red on a broken protocol.
Each planted bug (tests/sim/planted.py) rewrites one condition of the real store's writes on
their way to DynamoDB; the sweep must find a violation within a bounded number of schedules,
and the shrinker must reduce it to a handful of decisions that still break the invariant.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.sim.chooser import TapeChooser, sparse
from tests.sim.core import Rates
from tests.sim.planted import BUGS
from tests.sim.scenario import Config, Env, run_schedule
from tests.sim.sweep import minimise, sweep

SEARCH = range(0, 300)
# In-flight writes and lost responses are what let a stale holder's write reach the item.
HOSTILE = Rates(ddb=0.15)
# The seed each planted bug was first caught at: the clean run below replays that one seed
# instead of searching again (with -k alone, it searches).
caught_at: dict[str, int] = {}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


@pytest.mark.parametrize("bug", BUGS)
def test_a_planted_bug_is_caught_with_a_shrunk_schedule(env: Env, bug: str) -> None:
    config = Config(bug=bug, spill=0.0, rates=HOSTILE)
    found = sweep(env, SEARCH, config, stop_after=1)
    assert found.failures, f"{bug}: no violation in {found.schedules} schedules"
    seed, report = found.failures[0]
    assert report.violations[0].invariant == "I1", report.describe()
    caught_at[bug] = seed

    small = minimise(env, report, budget=80)
    assert small.violations and small.violations[0].invariant == "I1", small.describe()
    assert len(sparse(small.tape)) < len(sparse(report.tape))
    # The shrunk schedule is a plain list of decisions: it replays to the same violation.
    again = run_schedule(env, TapeChooser(small.tape), config)
    assert [v.detail.split(":")[0] for v in again.violations] == [
        v.detail.split(":")[0] for v in small.violations
    ]
    print(f"{bug}: caught at seed {seed} after {found.schedules} schedules; shrunk:")
    print(small.describe(tail=25))


@pytest.mark.parametrize("bug", BUGS)
def test_the_same_schedule_is_clean_without_the_bug(env: Env, bug: str) -> None:
    if bug not in caught_at:
        found = sweep(env, SEARCH, Config(bug=bug, spill=0.0, rates=HOSTILE), stop_after=1)
        assert found.failures, f"{bug}: no violation in {found.schedules} schedules"
        caught_at[bug] = found.failures[0][0]
    seed = caught_at[bug]
    fixed = sweep(env, [seed], Config(spill=0.0, rates=HOSTILE))
    assert not fixed.failures, fixed.failures[0][1].describe()


def test_clock_skew_beyond_the_lease_margin_is_caught(env: Env) -> None:
    """A lease outlives its term (to its holder's deadline at most) by CLOCK_SKEW_MS (2 s) for
    skew between hosts.
    Within that margin the sweeps stay clean. A holder's commits renew its lease, so the drift
    must also outlast what is left of a term: let clocks drift by up to 20 s either way and a
    claimer whose clock runs ahead takes a lease its live holder still uses."""
    config = Config(spill=0.0, rates=Rates(skew_ms=40_000))
    found = sweep(env, range(70, 130), config, stop_after=1)
    assert found.failures, f"no violation in {found.schedules} schedules"
    _, report = found.failures[0]
    assert report.violations[0].invariant == "I1"
    assert "two live holders" in report.violations[0].detail
    small = minimise(env, report, budget=60)
    assert small.violations and "two live holders" in small.violations[0].detail
    # A dozen or so decisions.
    assert len(sparse(small.tape)) <= 14, small.describe()
