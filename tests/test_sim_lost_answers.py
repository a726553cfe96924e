"""Lost answers inside botocore's retry loop: the simulator must see them, and the store survive.

A write lands, then the connection drops, a read times out or a 500 comes back; botocore
(standard mode, as pynamodb and the relay configure it) sends the same request again, and the
retry meets the write it made itself. The fault is injected in a `before-send` hook
(tests/sim/core.py), for DynamoDB and S3. On the commit logic from before store/writes.py (kept as
the planted bug "misread-refusal") a sweep finds the lost cursor; the same schedules are clean
on the store as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.sim.core import Rates
from tests.sim.planted import STORE_BUGS
from tests.sim.scenario import Config, Env
from tests.sim.sweep import sweep

LOST = Rates(ddb=0.25, s3=0.1, ddb_kinds=("ddb_lost_answer",))
SEARCH = range(0, 120)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


@pytest.fixture(scope="module")
def found(env: Env) -> tuple[int, str]:
    config = Config(spill=1.0, rates=LOST, store_cls=STORE_BUGS["misread-refusal"])
    result = sweep(env, SEARCH, config, stop_after=1)
    assert result.failures, f"the old commit logic survived {result.schedules} schedules"
    seed, report = result.failures[0]
    print(f"misread-refusal caught at seed {seed} after {result.schedules} schedules")
    print(report.describe(tail=30))
    return seed, report.describe(tail=30)


def test_the_simulator_finds_the_lost_cursor_on_the_old_commit_logic(
    found: tuple[int, str],
) -> None:
    _, described = found
    assert "lost" in described or "StateCorrupt" in described or "missing" in described, described


def test_the_same_schedule_is_clean_on_the_store(env: Env, found: tuple[int, str]) -> None:
    seed, _ = found
    fixed = sweep(env, [seed], Config(spill=1.0, rates=LOST))
    assert not fixed.failures, fixed.failures[0][1].describe(tail=40)


def test_lost_answers_on_every_write_sweep_clean(env: Env) -> None:
    result = sweep(env, range(500, 560), Config(spill=0.5, rates=LOST), stop_after=1)
    assert not result.failures, result.failures[0][1].describe(tail=40)
    struck = {k: v for k, v in result.stats.items() if k.startswith("lost_answer_")}
    assert len(struck) == 3, result.stats
