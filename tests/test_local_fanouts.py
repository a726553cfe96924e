"""Several fan-outs at once under one reserved concurrency: every parent waits parked, holding
no Lambda slot, and each shard that ends wakes its parent; all of them finish, exact.

Real worker processes on the local stack, reserved concurrency 4: three parents that waited
inside their hops (as they once did, sleep-polling) would hold three of the four slots, leaving
one for all their shards.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from baton.store.records import JobStatus
from tests.support.local_e2e import LOCAL_ACTIONS, SLOW

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

RESERVED = 4
FANOUTS = 3
BUCKET = "many-fans"


def keys_of(fan: int) -> list[str]:
    return [f"t{fan}/{d}/{i:03d}" for d in range(4) for i in range(20)]


def test_three_fan_outs_at_once_under_reserved_concurrency_four_all_finish_exact() -> None:
    with LocalStack(
        function=FunctionConfig(timeout_ms=4_000, reserved_concurrency=RESERVED),
        min_margin_ms=1_500,
        checkpoint_s=1,
        action_modules=("baton.local.demo.actions", LOCAL_ACTIONS),
        worker_env={"BATON_RESERVED_CONCURRENCY": str(RESERVED)},
        log_level="WARNING",
    ) as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        every = [key for fan in range(FANOUTS) for key in keys_of(fan)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=b"q" * 3), every))
        parents = []
        for fan in range(FANOUTS):
            spec = prepare(
                "s3-fanout",
                {
                    "bucket": BUCKET,
                    "prefix": f"t{fan}/",
                    "split": "delimiter",
                    "shards": 4,
                    "max_concurrency": 4,
                    "action": SLOW,
                    "action_params": {"sleep_ms": 20},
                },
                action_modules=stack.action_modules,
                now_ms=stack.store.clock.now_ms(),
                job_id=f"fan-{fan}",
            )
            parents.append(launch(stack.store, stack.client("lambda"), stack.function.name, spec))
        for fan in range(FANOUTS):
            job = stack.wait_for_job(f"fan-{fan}", lambda j: j.status.terminal, timeout_s=300)
            assert job.status is JobStatus.SUCCEEDED, job.last_error
            assert job.counters["objects"] == len(keys_of(fan))
            assert job.counters["bytes"] == 3 * len(keys_of(fan))
            assert job.counters["shards_succeeded"] == job.counters["shards"] >= 4
            # The parent waited parked, its hop ended and its slot free, and was woken by its
            # shards (no watchdog runs here: a lost wake-up would leave it waiting for good).
            ended = [h.ended_by for h in job.recent_hops]
            assert "waiting" in ended and job.waits >= 1, ended
            assert job.waiting_for is None
