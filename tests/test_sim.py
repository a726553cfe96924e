"""Deterministic simulation, driven by Hypothesis: the real relay and store under faults.

Hypothesis draws each schedule's decision tape; the simulator turns it into deliveries,
duplicates, late events, crashes at every named fault point, DynamoDB/S3/Lambda errors, clock
skew, operators and watchdog sweeps (tests/sim/). A failing tape is shrunk by Hypothesis and
printed with a replayable `tests.sim.scenario.replay({...})` line and the trace around it.

Each Hypothesis sweep runs in two tiers (tests/support/tiers.py): a few of its examples in
`make test`, all of them in `make test-slow`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.sim.chooser import SPAN, TapeChooser, sparse
from tests.sim.core import DDB_WRITE_FAULTS
from tests.sim.scenario import Config, Env, Report, replay, run_schedule
from tests.sim.sweep import minimise
from tests.sim.tasks import SIM_TASK
from tests.support.tiers import examples

SYNTHETIC_EXAMPLES = 650
WALK_EXAMPLES = 200
# How many of them `make test` runs (the slow tier runs them all).
QUICK_SYNTHETIC = 100
QUICK_WALK = 30
TAPE = 180  # decisions drawn per schedule; past the tape every decision is benign
# A third of the schedules spill every state to S3 (Config.spill), the rest keep it inline.
CONFIG = Config()
WALK = Config(task="s3-walk")
ran: dict[str, int] = {"synthetic": 0, "walk": 0}
asked: dict[str, int] = {"synthetic": 0, "walk": 0}
struck: Counter[str] = Counter()
PHASES = (
    list(Phase)
    if os.environ.get("SIM_HYPOTHESIS_SHRINK")
    else [Phase.explicit, Phase.reuse, Phase.generate]
)

tapes = st.lists(st.integers(0, SPAN - 1), min_size=TAPE, max_size=TAPE)


def hyp(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # Hypothesis's own shrinker needs minutes on these tapes (measured: five, and it gave
        # up); the test shrinks a failure itself with delta debugging in seconds instead.
        # SIM_HYPOTHESIS_SHRINK=1 turns Hypothesis's shrinking back on.
        phases=PHASES,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def explain(env: Env, report: Report) -> str:
    small = minimise(env, report, budget=120)
    return f"{report.describe(tail=30)}\n\nshrunk:\n{small.describe(tail=80)}"


def schedules_keep_every_invariant(env: Env, config: Config, name: str, count: int) -> None:
    """`count` schedules from Hypothesis's tapes, each checked against every invariant."""
    asked[name] += count

    @hyp(count)
    @given(tape=tapes)
    def one_schedule(tape: list[int]) -> None:
        report = run_schedule(env, TapeChooser(tape), config)
        ran[name] += 1
        struck.update(report.stats)
        assert report.ok, explain(env, report)

    one_schedule()


@pytest.mark.parametrize("count", examples(QUICK_SYNTHETIC, SYNTHETIC_EXAMPLES))
def test_synthetic_schedules_keep_every_invariant(env: Env, count: int) -> None:
    schedules_keep_every_invariant(env, CONFIG, "synthetic", count)


@pytest.mark.parametrize("count", examples(QUICK_WALK, WALK_EXAMPLES))
def test_s3_walk_schedules_keep_every_invariant(env: Env, count: int) -> None:
    schedules_keep_every_invariant(env, WALK, "walk", count)


def test_the_hypothesis_runs_above_really_ran() -> None:
    assert asked["synthetic"] > 0 and asked["walk"] > 0, asked
    assert ran["synthetic"] >= asked["synthetic"]
    assert ran["walk"] >= asked["walk"]
    # Hypothesis's tapes are not uniform: check the faults it drew really struck.
    for kind in ("crash@mid_step", "ddb", "duplicate", "late", "invoke", "s3", "timeout_kill"):
        assert struck[kind] > 0, f"{kind} never struck in the Hypothesis runs: {dict(struck)}"


def test_a_schedule_is_a_pure_function_of_its_tape(env: Env) -> None:
    tape = [(i * 7_919 + 13) % SPAN for i in range(TAPE)]
    first = run_schedule(env, TapeChooser(tape), CONFIG)
    second = run_schedule(env, TapeChooser(tape), CONFIG)
    strip = [line.split(" ", 1)[-1] for line in first.trace]
    assert strip == [line.split(" ", 1)[-1] for line in second.trace]
    assert first.stats == second.stats and first.tape == second.tape
    assert first.summary["counters"] == second.summary["counters"]


def test_the_printed_replay_line_reproduces_a_schedule() -> None:
    tape = [(i * 40_503 + 7) % SPAN for i in range(TAPE)]
    with mock_aws():
        env = Env.create()
        original = run_schedule(env, TapeChooser(tape), CONFIG)
    again = replay(sparse(original.tape), task=SIM_TASK)
    assert again.stats == original.stats
    assert again.summary["counters"] == original.summary["counters"]


def test_a_fault_free_schedule_finishes_in_one_chain(env: Env) -> None:
    report = run_schedule(env, TapeChooser([]), CONFIG.quiet())
    assert report.ok, report.describe()
    assert report.summary["status"] == "SUCCEEDED"
    assert report.stats == {}
    assert report.summary["invocations"] == report.summary["hops"]


def test_every_write_fault_kind_is_reachable() -> None:
    assert set(DDB_WRITE_FAULTS) >= {"ddb_lost_response", "ddb_in_flight", "ddb_crash_after"}
