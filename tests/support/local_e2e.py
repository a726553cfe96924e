"""Helpers for the end-to-end tests through the local stack (tests/test_local_*.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from baton.handler.launch import launch, prepare
from baton.local.stack import LocalStack
from baton.store.records import Job
from tests.support.buckets import BucketTruth

LOCAL_ACTIONS = "tests.support.local_actions"
SLOW = f"{LOCAL_ACTIONS}:slow"


def fill(stack: LocalStack, bucket: str, count: int) -> BucketTruth:
    """`count` objects named k00000..., sizes varying, uploaded in parallel."""
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    sizes = {f"k{i:05d}": (i * 37) % 300 for i in range(count)}
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=b"x" * kv[1]), sizes.items()
            )
        )
    return BucketTruth(bucket=bucket, sizes=sizes)


def start_walk(
    stack: LocalStack,
    bucket: str,
    action_params: dict[str, Any],
    concurrency: int = 1,
    **options: Any,
) -> Job:
    """An s3-walk of the `slow` action; one object at a time unless `concurrency` says more
    (the tests that read the trace's order, or block one step past the timeout, need one)."""
    spec = prepare(
        "s3-walk",
        {
            "bucket": bucket,
            "action": SLOW,
            "action_params": action_params,
            "concurrency": concurrency,
        },
        action_modules=stack.action_modules,
        now_ms=stack.store.clock.now_ms(),
        **options,
    )
    launched = launch(stack.store, stack.client("lambda"), stack.function.name, spec)
    assert launched.created
    return launched.job


def read_trace(path: Path) -> list[tuple[int, str]]:
    """(pid, key) per processed object, in the order they finished; BLOCK lines included."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(int(pid), rest) for pid, _, rest in (line.partition(" ") for line in lines)]


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
