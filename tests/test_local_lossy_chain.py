"""Chains on the local stack whose DynamoDB answers are lost after the writes landed.

The workers reach the moto server through local/aws_server/lossy_proxy.py, which forwards every
request and, for a share of the writes, closes the connection instead of answering. botocore in
the workers retries (pynamodb's standard mode); each retry meets the write it made itself. The
chain must end SUCCEEDED with exact counters, its state spilled to S3 and still readable, one
claim per epoch, and without a watchdog (none runs here: a landed hand-off that was not invoked
would stall it).
"""

from __future__ import annotations

from collections import Counter

import pytest

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from baton.store.records import Job, JobStatus
from tests.support.local_e2e import fill

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

OBJECTS = 2_000
DROP_RATE = 0.15


def ended(job: Job) -> bool:
    return job.status.terminal


def expected_duplicates(sizes: dict[str, int]) -> dict[str, int]:
    """What the duplicates action must find: same size and body is the same ETag here."""
    copies = Counter(size for size in sizes.values() if size >= 1)
    groups = {size: n for size, n in copies.items() if n >= 2}
    return {
        "groups": len(groups),
        "extra_copies": sum(n - 1 for n in groups.values()),
        "saved_bytes": sum(size * (n - 1) for size, n in groups.items()),
    }


@pytest.mark.parametrize("action", ["count", "duplicates"])
def test_a_chain_whose_write_answers_are_lost_ends_exact(action: str) -> None:
    with LocalStack(
        # Room for a cold start on a busy machine. The window stays wide even after the budget
        # learns a slow write (a lost answer costs botocore's backoff), so hops stay useful.
        function=FunctionConfig(timeout_ms=12_000),
        min_margin_ms=8_000,
        checkpoint_s=1,
        log_level="WARNING",
        lossy_dynamodb=DROP_RATE,
        # With this seed the proxy loses the answers of writes 0, 1, 4, 5, 8 and 11 (the first
        # claim and its first retry among them), however fast the machine is.
        lossy_seed=31,
        worker_env={"BATON_STATE_INLINE_LIMIT": "0"},  # every state spills to S3
    ) as stack:
        truth = fill(stack, "lossy", OBJECTS)
        spec = prepare(
            "s3-walk",
            {"bucket": "lossy", "action": action},
            action_modules=stack.action_modules,
            now_ms=stack.store.clock.now_ms(),
        )
        launched = launch(stack.store, stack.client("lambda"), stack.function.name, spec)
        assert launched.created
        done = stack.wait_for_job(launched.job.job_id, ended, timeout_s=240, what="its end")

        assert done.status is JobStatus.SUCCEEDED, done.last_error
        assert {k: done.counters.get(k, 0) for k in ("objects", "bytes")} == truth.counters()
        assert done.state_ref is not None, "the state spilled to S3"
        assert stack.store.load_state(done) is not None, "the final state object is there"
        assert done.hops == done.epoch, "one claim per epoch: no claim counted twice"
        assert stack.proxy is not None
        stats = stack.proxy.stats
        assert stats.dropped >= 2, f"the proxy lost only {stats.dropped} of {stats.writes} answers"
        if action == "duplicates":
            found = {k: done.summary.get(k) for k in ("groups", "extra_copies", "saved_bytes")}
            assert found == expected_duplicates(truth.sizes)
        print(f"{action}: {done.hops} hops, {stats.dropped} of {stats.writes} answers lost")
