"""Chaos on the local stack: real worker processes, HTTP, moto's server, faults on, 20 seeds.

One stack serves every seed; before each job the local Lambda service gets the seed's fault
streams: events delivered twice (30%), workers killed at a random moment (30%), invokes answered
with a throttle (15%). Each small s3-walk must end SUCCEEDED with exact counters, every object
processed at least once, and a timeline (from the job item) with one hop per epoch and no hop
beyond max_hops. Odd seeds walk with 8 objects in flight on real threads, so kills strike with
work in flight and the committed cursor is the watermark. The in-process simulator
(tests/test_sim*.py) covers the protocol's interleavings (concurrent walks on its own
deterministic pool); these runs cover the same code as separate processes killed for real.

About 5 s a seed on 2 cores: `make test` runs the first two (one walk in order, one with 8
objects in flight), `make test-slow` the rest and the check that every fault kind struck across
them. CHAOS_LOCAL_SEEDS sets the number of seeds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job, JobStatus
from tests.support.buckets import BucketTruth
from tests.support.local_e2e import LOCAL_ACTIONS, fill, read_trace, start_walk

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

SEEDS = range(int(os.environ.get("CHAOS_LOCAL_SEEDS", "20")))
# The seeds `make test` runs; the others are more of the same sweep, in the slow tier.
QUICK_SEEDS = 2
OBJECTS = 60
totals: Counter[str] = Counter()
ran: list[int] = []


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        function=FunctionConfig(timeout_ms=2_000),
        min_margin_ms=1_200,
        checkpoint_s=1,
        action_modules=("baton.local.demo.actions", LOCAL_ACTIONS),
        log_level="WARNING",
    ) as s:
        yield s


@pytest.fixture(scope="module")
def truth(stack: LocalStack) -> BucketTruth:
    return fill(stack, "chaos-seeds", OBJECTS)


def ended(job: Job) -> bool:
    return job.status.terminal


@pytest.mark.parametrize(
    "seed", [pytest.param(s, marks=[] if s < QUICK_SEEDS else [pytest.mark.slow]) for s in SEEDS]
)
def test_a_chaos_seed_ends_succeeded_with_exact_counters(
    stack: LocalStack, truth: BucketTruth, tmp_path: Path, seed: int
) -> None:
    faults = FaultConfig(
        duplicate=Fault(0.3, seed=seed * 10 + 1),
        kill=Fault(0.3, seed=seed * 10 + 2),
        throttle=Fault(0.15, seed=seed * 10 + 3),
    )
    stack.lambda_.set_faults(faults)
    before = stack.lambda_.snapshot()
    trace = tmp_path / "trace"
    # Odd seeds run 8 objects at once, each 8 times slower, so the walk lasts as many hops and
    # kills strike with objects in flight on real threads.
    concurrency = 8 if seed % 2 else 1
    job = start_walk(
        stack,
        truth.bucket,
        {"sleep_ms": 30 * concurrency, "trace": str(trace)},
        concurrency=concurrency,
        job_id=f"chaos-{seed}",
    )
    watchdog = LocalWatchdog(stack)
    done = stack.wait_for_job(job.job_id, ended, timeout_s=180, what="its end", on_poll=watchdog)
    stack.lambda_.set_faults(FaultConfig())
    after = stack.lambda_.snapshot()

    assert done.status is JobStatus.SUCCEEDED, f"seed {seed}: {done.last_error}"
    assert done.counters == truth.counters(), f"seed {seed}: {done.counters}"
    processed = Counter(key for _, key in read_trace(trace) if not key.startswith("BLOCK "))
    assert set(processed) == set(truth.sizes), f"seed {seed}: objects never processed"
    assert done.hops <= done.max_hops
    epochs = [h.epoch for h in done.recent_hops]
    assert epochs == sorted(epochs), f"seed {seed}: hops out of epoch order {epochs}"
    owners = [h.owner for h in done.recent_hops]
    assert len(owners) == len(set(owners)), f"seed {seed}: one invocation held two hops"
    struck = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in ("duplicated", "killed", "throttled_by_fault")
    }
    totals.update(struck)
    ran.append(seed)
    print(f"seed {seed} x{concurrency}: {done.hops} hops, {struck}, nudges {watchdog.nudges}")


@pytest.mark.slow
def test_the_faults_really_struck_across_the_seeds() -> None:
    """Over the slow tier's seeds (the larger part of the sweep; `make test` runs the first few)."""
    if not set(SEEDS[QUICK_SEEDS:]) <= set(ran):
        pytest.skip("runs only after every slow seed above ran")
    assert totals["duplicated"] >= len(ran) // 2, totals
    assert totals["killed"] >= 3, totals
    assert totals["throttled_by_fault"] >= 1, totals
