"""`baton demo --input manifest|lines`: the input tasks on the local stack, checked.

- `manifest`: an S3 Inventory report (manifest.json and 3 CSV.gz data files, as S3 Inventory
  writes them) listing objects that need not exist, walked with `s3-walk --manifest` and the
  `count` action; the job's counters must equal the manifest's rows and sizes.
- `lines`: one JSON Lines object read with `s3-lines` through 1 MiB ranged GETs; the job's
  `records` and `bytes` must equal the object's lines and size.

Both run under a short function timeout, so the chain hops while you watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from baton.handler.launch import launch, prepare
from baton.local.demo.sample_inputs import json_lines, put_inventory
from baton.local.demo.watch import checks_pass, follow, run_summary, verdict
from baton.local.lambda_service.faults import FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job

INPUTS = ("manifest", "lines")
INVENTORY_BUCKET = "baton-inventory"
LINES_BUCKET = "baton-exports"
LINES_KEY = "export/records.jsonl"
LINES_RANGE = 1024**2


@dataclass(frozen=True)
class InputDemoOptions:
    kind: str
    items: int  # manifest rows, or JSON Lines records
    timeout_s: float = 3.0
    min_margin_ms: int = 1_500
    faults: FaultConfig = field(default_factory=FaultConfig)
    max_wait_s: float = 300.0


def run_input_demo(
    options: InputDemoOptions, console: Console, show_job: Callable[[Job], None]
) -> int:
    """Run one input demo; 0 when the job succeeded with counters equal to the input."""
    if options.kind not in INPUTS:
        raise ValueError(f"--input must be one of {', '.join(INPUTS)}, got {options.kind!r}")
    began = time.monotonic()
    console.print(
        f"[bold]baton demo --input {options.kind}[/]: {options.items:,} "
        f"{'rows' if options.kind == 'manifest' else 'records'}, function timeout "
        f"{options.timeout_s:g} s, faults: {options.faults.describe()}"
    )
    with LocalStack(
        function=FunctionConfig(timeout_ms=int(options.timeout_s * 1000)),
        faults=options.faults,
        min_margin_ms=options.min_margin_ms,
        checkpoint_s=1,
        log_level="WARNING",
    ) as stack:
        s3 = stack.client("s3")
        params: dict[str, Any]
        if options.kind == "manifest":
            s3.create_bucket(Bucket=INVENTORY_BUCKET)
            truth = put_inventory(s3, INVENTORY_BUCKET, "photos", options.items, 3)
            task = "s3-manifest"
            params = {"manifest": truth.manifest_uri, "action": "count"}
            expected = {"objects": truth.rows, "bytes": truth.bytes}
            console.print(f"wrote an inventory report: {truth.manifest_uri} (3 CSV.gz files)")
        else:
            body = json_lines(options.items, width=100)
            s3.create_bucket(Bucket=LINES_BUCKET)
            s3.put_object(Bucket=LINES_BUCKET, Key=LINES_KEY, Body=body)
            task = "s3-lines"
            params = {
                "bucket": LINES_BUCKET,
                "key": LINES_KEY,
                "format": "jsonl",
                "range_size": LINES_RANGE,
            }
            expected = {"records": options.items, "bytes": len(body), "objects": 1}
            console.print(f"wrote s3://{LINES_BUCKET}/{LINES_KEY} ({len(body):,} bytes)")
        spec = prepare(
            task, params, action_modules=stack.action_modules, now_ms=stack.store.clock.now_ms()
        )
        job = launch(stack.store, stack.client("lambda"), stack.function.name, spec).job
        console.print(f"started job {job.job_id} ({task})")
        job = _follow(stack, job, options, console)
        stats = stack.lambda_.snapshot()
    console.print()
    show_job(job)
    return _check(job, expected, stats, console, time.monotonic() - began)


def _follow(stack: LocalStack, job: Job, options: InputDemoOptions, console: Console) -> Job:
    """Print a line per hop until the job ends (the watchdog re-sends a stalled chain)."""
    last_hops = -1

    def show(job: Job) -> None:
        nonlocal last_hops
        if job.hops != last_hops:
            figures = "  ".join(f"{k} {v:,}" for k, v in sorted(job.counters.items()))
            console.print(f"hop {job.hops:>3}: {figures}  {job.status.value.lower()}")
            last_hops = job.hops

    return follow(stack, job, options.max_wait_s, console, LocalWatchdog(stack), show)


def _check(
    job: Job, expected: dict[str, int], stats: dict[str, int], console: Console, took_s: float
) -> int:
    checks = [("job status", "SUCCEEDED", job.status.value)]
    checks += [
        (name, f"{value:,}", f"{job.counters.get(name, 0):,}") for name, value in expected.items()
    ]
    ok = checks_pass("checked against the input", checks, console)
    console.print(run_summary(job, stats, took_s))
    return verdict(
        ok,
        console,
        "the counters equal the input exactly",
        "the job's counters do not match the input",
    )
