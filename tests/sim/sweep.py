"""Many schedules in a row: what the tests, `make chaos` and the comparison share."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.sim.chooser import RandomChooser, TapeChooser, shrink, sparse
from tests.sim.scenario import Config, Env, Report, run_schedule


@dataclass
class SweepResult:
    schedules: int = 0
    seconds: float = 0.0
    stats: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[int, Report]] = field(default_factory=list)

    def line(self) -> str:
        rate = self.schedules / self.seconds if self.seconds else 0.0
        return (
            f"{self.schedules} schedules in {self.seconds:.1f}s ({rate:.1f}/s), "
            f"{len(self.failures)} with violations; final statuses {dict(self.statuses)}"
        )


def sweep(
    env: Env,
    seeds: Iterable[int],
    config: Config,
    *,
    stop_after: int = 1,
    deadline: float | None = None,
) -> SweepResult:
    """Run one schedule per seed; stop after `stop_after` failing ones or at `deadline`."""
    result = SweepResult()
    started = time.perf_counter()
    for seed in seeds:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        report = run_schedule(env, RandomChooser(seed), config)
        result.schedules += 1
        result.stats.update(report.stats)
        result.statuses[str(report.summary.get("status"))] += 1
        if not report.ok:
            result.failures.append((seed, report))
            if len(result.failures) >= stop_after:
                break
    result.seconds = time.perf_counter() - started
    return result


def minimise(env: Env, report: Report, budget: int = 300) -> Report:
    """Shrink a failing schedule to the fewest non-zero decisions that still break the same
    invariant, and return the report of that minimal schedule."""
    invariant = report.violations[0].invariant
    config = report.config

    def fails(tape: list[int]) -> bool:
        again = run_schedule(env, TapeChooser(tape), config)
        return any(v.invariant == invariant for v in again.violations)

    shrunk = shrink(report.tape, fails, budget=budget)
    final = run_schedule(env, TapeChooser(shrunk.tape), config)
    final.summary["shrunk_from"] = len(sparse(report.tape))
    final.summary["shrink_runs"] = shrunk.runs
    return final


def first_failure(env: Env, result: SweepResult) -> str | None:
    """What a test reports when a sweep broke an invariant: the first failing seed's schedule
    and its shrunk form (None: every schedule kept every invariant)."""
    if not result.failures:
        return None
    seed, report = result.failures[0]
    small = minimise(env, report, budget=120)
    return (
        f"seed {seed} broke an invariant after {result.schedules} schedules.\n"
        f"original:\n{report.describe(tail=40)}\n\nshrunk:\n{small.describe(tail=80)}"
    )
