"""Deterministic simulation of `count`, which takes a whole listed page per step: exact counters
under every fault kind, over key limits, shard ranges and fan-outs, and the planted count bugs.

The count schedules (tests/sim/count_walk.py) walk a bucket where `data-backup/` sorts between
`data` and `data/`, with a prefix, `start_after` or a shard's [start_at, end_before) drawn per
schedule, pages of at most a dozen keys that cost virtual time per key, crashes at every named
point, lost write answers, duplicate and late deliveries, operators pausing, cancelling and
resuming, and a resume of a FAILED or PAUSED job. In every committed version the `objects` and
`bytes` counters must equal what the bucket holds below the committed cursor in the walk's range
(I3): no page counted twice, no key passed over uncounted.

Each sweep runs in two tiers (tests/support/tiers.py): its first seeds in `make test`, the rest
in `make test-slow`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from tests.sim import core
from tests.sim.chooser import TapeChooser, dense
from tests.sim.count_walk import COUNT_BUGS
from tests.sim.scenario import COUNT, COUNT_FANOUT, Env, run_schedule
from tests.sim.sweep import SweepResult, first_failure, sweep
from tests.support.tiers import tiered

COUNT_SEEDS = range(60_000, 60_300)
FANOUT_SEEDS = range(61_000, 61_030)
# Twelve keys from data/000: exactly one full page (COUNT's pages hold at most 12), whose last
# key is the range's last; the next listing starts at the range's end.
PAGE_AT_RANGE_END = (("start_at", "data/000"), ("end_before", "data/012"))
# The planted bugs are caught within this many seeds.
BUG_SEARCH = range(60_000, 60_020)
struck: Counter[str] = Counter()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def check(env: Env, result: SweepResult) -> None:
    struck.update(result.stats)
    failure = first_failure(env, result)
    if failure is not None:
        pytest.fail(failure)


@pytest.mark.parametrize("seeds", tiered(COUNT_SEEDS, quick=15))
def test_count_keeps_exact_counters_under_every_fault(env: Env, seeds: range) -> None:
    result = sweep(env, seeds, COUNT)
    check(env, result)
    assert result.schedules == len(seeds)


@pytest.mark.parametrize("seeds", tiered(FANOUT_SEEDS, quick=2))
def test_count_shards_of_a_fan_out_add_up_to_the_bucket(env: Env, seeds: range) -> None:
    """The delimiter split cuts the count bucket between `data`, `data-backup/` and `data/`;
    each shard counts its range a page per step, and the parent's counters are theirs."""
    result = sweep(env, seeds, COUNT_FANOUT)
    check(env, result)
    assert result.schedules == len(seeds)


def test_a_page_that_ends_exactly_at_the_range_end_is_counted_once(env: Env) -> None:
    quiet = replace(COUNT, key_limits=False, limits=PAGE_AT_RANGE_END).quiet()
    report = run_schedule(env, TapeChooser([]), quiet)
    assert report.ok, report.describe()
    assert report.summary["status"] == "SUCCEEDED"
    sizes = env.count_bucket()
    mine = [f"data/{i:03d}" for i in range(12)]
    assert report.summary["counters"] == {
        "objects": 12,
        "bytes": sum(sizes[k] for k in mine),
    }
    faulty = sweep(env, range(62_000, 62_010), replace(quiet, rates=COUNT.rates))
    check(env, faulty)


@pytest.mark.parametrize(
    "timeout_ms",
    [
        pytest.param((800, 1_000), id="800ms"),
        pytest.param((1_000, 1_400), id="1s", marks=pytest.mark.slow),
    ],
)
def test_hops_whose_window_is_shorter_than_a_full_page_listing_still_count_exactly(
    env: Env, timeout_ms: tuple[int, int]
) -> None:
    """A full page (12 keys at 40 ms) takes 480 ms to list, about the whole window of a hop of
    800 ms less its 300 ms margin: a hop's first page may run past its window before it hands
    off, and the next hops size their pages from what it measured."""
    config = replace(COUNT, timeout_ms=timeout_ms, max_hops=(40, 80), list_ms_per_key=40)
    result = sweep(env, range(63_000, 63_010), config)
    check(env, result)


def test_a_hop_whose_first_listing_is_faster_than_the_rest_never_outruns_its_window(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unmeasured, count sizes its page ahead from its first listing's own time. Here every
    hop's first listing costs 40 ms a key and every later one 80 ms (twice the estimate, the
    slack a page sized to half the window has): no hop runs past its deadline on the page ahead,
    no job stalls, and the counters stay exact under every fault."""
    listed = core._listed

    def first_fast(sim: Any, parsed: dict[str, Any], *, delimited: bool) -> None:
        actor = core.current_actor()
        if actor is None or actor.sim is not sim:
            return listed(sim, parsed, delimited=delimited)
        first = not getattr(actor, "listed_before", False)
        actor.listed_before = True  # type: ignore[attr-defined]
        sim.list_ms_per_key = 40 if first else 80
        listed(sim, parsed, delimited=delimited)

    monkeypatch.setattr(core, "_listed", first_fast)
    config = replace(COUNT, timeout_ms=(1_300, 2_200), max_hops=(60, 120))
    result = sweep(env, range(64_000, 64_020), config)
    check(env, result)
    assert result.stats["timeout_kill"] == 0 and "FAILED" not in result.statuses, result.line()


@pytest.mark.parametrize("bug", sorted(COUNT_BUGS))
def test_a_planted_count_bug_breaks_exact_counters_and_the_seed_is_clean_without_it(
    env: Env, bug: str
) -> None:
    found = sweep(env, BUG_SEARCH, replace(COUNT, bug=bug), stop_after=1)
    assert found.failures, f"{bug}: no violation in {found.schedules} schedules"
    seed, report = found.failures[0]
    assert report.violations[0].invariant == "I3", report.describe()
    clean = sweep(env, [seed], COUNT)
    assert not clean.failures, clean.failures[0][1].describe()


@pytest.mark.slow
def test_the_count_sweeps_met_every_fault_kind_and_both_resumes() -> None:
    """The sweeps above are worth their count only if the faults really struck: crashes mid
    step and after a checkpoint, lost answers, duplicates, and a resume of a FAILED and of a
    PAUSED job (hops killed at their deadline strike in the short-window schedules above)."""
    wanted = (
        "crash@mid_step",
        "crash@after_checkpoint",
        "ddb_lost_answer",
        "s3_lost_answer",
        "duplicate",
        "resumed_from_FAILED",
        "resumed_from_PAUSED",
    )
    missing = [kind for kind in wanted if struck[kind] == 0]
    assert not missing, f"never struck: {missing}; struck: {dict(struck)}"


def test_count_schedules_walk_the_count_bucket_with_the_built_in_action(env: Env) -> None:
    report = run_schedule(env, TapeChooser([]), replace(COUNT, key_limits=False).quiet())
    assert report.ok, report.describe()
    assert report.summary["action"] == "count" and report.summary["concurrency"] == 1
    sizes = env.count_bucket()
    assert report.summary["counters"] == {"objects": len(sizes), "bytes": sum(sizes.values())}
    # More than one hop and more than one page: the cursor crosses hop boundaries.
    assert report.summary["hops"] >= 2, report.summary


# Found by the count fan-out sweep (seed 70,018, shrunk): a shard's hop fails an attempt (its
# listing answered 500) and releases it; an operator's cancel then stops the shard; Lambda retries
# the failed invocation under the same request id. The retry's claim is refused (the shard is
# CANCELLED), and it took the released attempt for its own stop and read the parent to wake it.
RETRY_AFTER_OPERATOR_STOP = {
    1: 65535,
    2: 2,
    3: 1,
    13: 65535,
    14: 1088,
    16: 65535,
    33: 1,
    38: 1,
    51: 1,
    53: 1,
    94: 65535,
    96: 1,
    98: 1,
    100: 2,
    102: 1,
    104: 1,
    108: 1,
    110: 1,
    112: 1,
    114: 1,
    115: 65535,
    117: 1,
    119: 65535,
}


def test_a_retry_of_a_released_attempt_whose_shard_an_operator_stopped_is_a_plain_discard(
    env: Env,
) -> None:
    """Only the retry of the invocation that stopped a shard wakes its parked parent; the
    retry of one that released a failed attempt, the shard stopped since by an operator (whose
    command wakes the parent), is discarded as cheaply as any duplicate (I5: three calls)."""
    report = run_schedule(env, TapeChooser(dense(RETRY_AFTER_OPERATOR_STOP)), COUNT_FANOUT)
    assert report.ok, report.describe()
    assert report.stats["retry_same_request_id"] and report.stats["op_cancel"], report.stats


RETRY_OF_A_SHARD_THAT_FINISHED_AND_DIED = {
    0: 2039,
    3: 1,
    4: 68,
    8: 65535,
    9: 20997,
    12: 65535,
    13: 3751,
    16: 65535,
    17: 536,
    24: 139,
    25: 65535,
    27: 341,
    33: 1,
    35: 1,
    39: 1,
    40: 65535,
    41: 7,
    42: 1,
    44: 2,
    47: 1,
    56: 322,
    57: 65535,
    59: 49,
    66: 65535,
    67: 765,
    74: 1,
    78: 1,
    82: 1,
    84: 1,
    86: 65535,
    87: 4,
    88: 240,
    89: 65535,
    90: 65535,
    124: 65535,
    125: 1227,
    126: 65535,
    127: 1,
    128: 65535,
    167: 65535,
    168: 3,
    169: 65535,
    170: 380,
    177: 65535,
    178: 51480,
    180: 65535,
    181: 1697,
    209: 65535,
    210: 3,
    212: 65535,
    213: 1,
    215: 65535,
    216: 1393,
    217: 65535,
    218: 1,
    225: 65535,
    227: 1824,
    231: 65535,
    232: 12355,
    233: 65535,
    235: 216,
    249: 1,
    250: 65535,
    251: 1381,
    252: 1,
    254: 1,
    256: 1,
    257: 65535,
    258: 1,
    259: 1,
    260: 65535,
    261: 298,
    262: 1,
    268: 1,
    272: 1,
    274: 1,
    276: 1,
    278: 1,
    280: 1,
    282: 1,
    286: 1,
    288: 1,
    289: 65535,
}


def test_the_retry_of_a_shard_hop_that_died_after_its_last_write_wakes_the_parent(
    env: Env,
) -> None:
    """A shard's hop is killed with its last write in flight (it lands); Lambda retries that
    invocation under the same request id, the first retry meets a DynamoDB 500, the second is
    refused at its claim and wakes the parked parent in the dead hop's place: a discard that
    reads the parent once more (I5 allows it four calls, a plain duplicate three)."""
    report = run_schedule(
        env, TapeChooser(dense(RETRY_OF_A_SHARD_THAT_FINISHED_AND_DIED)), COUNT_FANOUT
    )
    assert report.ok, report.describe()
    woke = {
        line.split()[1]
        for line in report.trace
        if " a0]" not in line and "@invoke:" in line and line.split()[1].startswith("inv")
    }
    discarded = {line.split()[2].rstrip(":") for line in report.trace if line.endswith("discarded")}
    assert woke & discarded, "a discarded Lambda retry sent the parent's wake-up"
