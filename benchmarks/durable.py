"""The durable-functions peer: the same walk as a Lambda durable function, run locally.

Written as the durable execution SDK's docs recommend for a long loop: one `context.step` per
listing page (list 1,000 keys, do the page's work, return a small result the service
checkpoints), the loop's variables rebuilt from the steps' results on replay. It runs in the
SDK's own local runner (`DurableFunctionTestRunner`, `aws-durable-execution-sdk-python-testing`)
against the benchmark's moto server and bucket, beside baton and the plain loop.

What the local runner does not do, and the page says so: it keeps its checkpoints in memory (no
CheckpointDurableExecution round trip per step, which on AWS is a network call and a billed
operation), it does not cap an execution's history (25,000 operations on AWS), and it does not
suspend and replay the function at Lambda's 15-minute timeout. The limits it would hit are
computed here from what the run counted.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from benchmarks.harness import MAX_KEYS

# The service's limits (the SDK's LIMITS page; the checkpoint size is also the SDK's own
# constant `CHECKPOINT_SIZE_LIMIT_BYTES`).
MAX_HISTORY_OPERATIONS = 25_000
MAX_CHECKPOINT_BYTES = 256 * 1024
MAX_CHECKPOINT_BATCH_BYTES = 750 * 1024


def _page(s3: Any, bucket: str, after: str) -> dict[str, Any]:
    """One step: list a page after `after`, count it; the result is what gets checkpointed."""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": "", "MaxKeys": MAX_KEYS}
    if after:
        request["StartAfter"] = after
    page = s3.list_objects_v2(**request)
    contents = page.get("Contents", [])
    return {
        "after": contents[-1]["Key"] if contents else after,
        "objects": len(contents),
        "bytes": sum(int(item.get("Size", 0)) for item in contents),
        "more": bool(page.get("IsTruncated", False)) and bool(contents),
    }


def make_handler(s3: Any) -> Any:
    """The durable function: a loop of one step per page, state only in the steps' results."""
    from aws_durable_execution_sdk_python import DurableContext, durable_execution

    @durable_execution  # type: ignore[untyped-decorator,unused-ignore]  # untyped without the bench extra
    def walk(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        bucket = event["bucket"]
        after, objects, size, pages = "", 0, 0, 0
        while True:

            def list_page(_step: Any, after: str = after) -> dict[str, Any]:
                return _page(s3, bucket, after)

            result = context.step(list_page, name=f"page-{pages}")
            pages += 1
            objects += result["objects"]
            size += result["bytes"]
            after = result["after"]
            if not result["more"]:
                return {"objects": objects, "bytes": size, "pages": pages}

    return walk


def available() -> str | None:
    """None when the SDK and its local runner are installed, else what is missing."""
    try:
        import aws_durable_execution_sdk_python  # noqa: F401
        import aws_durable_execution_sdk_python_testing  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[bench]')"
    return None


def walk(s3: Any, bucket: str) -> dict[str, Any]:
    """One execution of the durable walk in the local runner: time, operations, bytes."""
    from aws_durable_execution_sdk_python.lambda_service import OperationStatus
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    with DurableFunctionTestRunner(handler=make_handler(s3), poll_interval=0.01) as runner:
        started = time.perf_counter()
        result = runner.run(input=json.dumps({"bucket": bucket}), execution_timeout=900)
        seconds = time.perf_counter() - started
    operations = result.get_all_operations()
    payloads = [len(getattr(op, "result", None) or "") for op in operations]
    answer = json.loads(result.result or "{}")
    return {
        "seconds": seconds,
        "objects": answer.get("objects", 0),
        "status": str(getattr(result.status, "value", result.status)),
        "operations": len(operations),
        "succeeded_steps": sum(1 for op in operations if op.status is OperationStatus.SUCCEEDED),
        "checkpoint_bytes": sum(payloads),
        "largest_checkpoint": max(payloads, default=0),
    }


def figure(env: Any, pairs: int, bucket: str) -> dict[str, Any]:
    """The durable walk and the plain loop in alternating pairs on the overhead figure's bucket."""
    from benchmarks.figures import median_interval
    from benchmarks.harness import plain_walk

    missing = available()
    if missing:
        return {"missing": missing}
    walk(env.s3, bucket)  # warm: imports, the runner's threads
    rows = []
    for i in range(max(1, pairs)):
        row: dict[str, Any] = {}
        for which in ("plain", "durable") if i % 2 == 0 else ("durable", "plain"):
            if which == "plain":
                plain = plain_walk(env.s3, bucket)
                row["plain_rate"] = plain.rate
            else:
                row["durable"] = walk(env.s3, bucket)
                row["durable_rate"] = row["durable"]["objects"] / row["durable"]["seconds"]
        row["ratio"] = row["durable_rate"] / row["plain_rate"]
        rows.append(row)
    last = rows[-1]["durable"]
    objects = last["objects"]
    per_million = last["operations"] / max(1, objects) * 1_000_000  # calculated
    low, high = median_interval([r["ratio"] for r in rows])
    return {
        "pairs": rows,
        "objects": objects,
        "ratio_median": statistics.median(r["ratio"] for r in rows),
        "ratio_low": low,
        "ratio_high": high,
        "rate": statistics.median(r["durable_rate"] for r in rows),
        # the plain loop in these pairs (the machine's load differs from the overhead pairs')
        "plain_rate": statistics.median(r["plain_rate"] for r in rows),
        "operations": last["operations"],
        "checkpoint_bytes": last["checkpoint_bytes"],
        "largest_checkpoint": last["largest_checkpoint"],
        "operations_per_million": per_million,
        # calculated: the largest bucket one execution can walk before its history is full
        "max_objects_per_execution": MAX_HISTORY_OPERATIONS * objects / max(1, last["operations"]),
        "max_history_operations": MAX_HISTORY_OPERATIONS,
        "max_checkpoint_bytes": MAX_CHECKPOINT_BYTES,
        "max_checkpoint_batch_bytes": MAX_CHECKPOINT_BATCH_BYTES,
    }
