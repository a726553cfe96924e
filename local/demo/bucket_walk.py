"""`baton demo`: the main job on the local stack, watched live and checked against the truth.

Start the stack, fill a bucket, walk it with `s3-walk` and a short function timeout so the chain
hops many times, show progress while it runs, then print the job and compare its counters with
what the bucket really holds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from baton.handler.launch import launch, prepare
from baton.local.demo.watch import checks_pass, follow, run_summary, verdict
from baton.local.lambda_service.faults import FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job
from baton.store.units import human_bytes

DEMO_BUCKET = "baton-demo"
DEMO_ACTION = "baton.local.demo.actions:checksum"
FILL_THREADS = 8


@dataclass(frozen=True)
class DemoOptions:
    objects: int = 3_000
    size: int = 2_048
    timeout_s: float = 2.0
    min_margin_ms: int = 800
    checkpoint_s: int = 1
    action: str = DEMO_ACTION
    # One object at a time, so the short timeout makes the chain hop visibly.
    concurrency: int = 1
    faults: FaultConfig = field(default_factory=FaultConfig)
    max_wait_s: float = 300.0
    seed: int = 2026


@dataclass(frozen=True)
class Truth:
    objects: int
    bytes: int


def fill_bucket(stack: LocalStack, options: DemoOptions, console: Console) -> Truth:
    """Objects under a few prefixes, sizes spread around `size` (seeded, so runs compare)."""
    rng = random.Random(options.seed)
    objects = {
        f"logs/2026/11/{1 + i % 28:02d}/part-{i:06d}.json": rng.randint(0, 2 * options.size)
        for i in range(options.objects)
    }
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=DEMO_BUCKET)
    with _progress(console) as progress:
        task = progress.add_task(f"filling s3://{DEMO_BUCKET}", total=len(objects))

        def put(item: tuple[str, int]) -> None:
            s3.put_object(Bucket=DEMO_BUCKET, Key=item[0], Body=rng_bytes(item[1]))
            progress.advance(task)

        with ThreadPoolExecutor(FILL_THREADS) as pool:
            list(pool.map(put, objects.items()))
    return Truth(objects=len(objects), bytes=sum(objects.values()))


def rng_bytes(size: int) -> bytes:
    return (b"baton " * (size // 6 + 1))[:size]


def bucket_truth(stack: LocalStack) -> Truth:
    """What the bucket holds, read back independently of the job."""
    count = total = 0
    for page in stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=DEMO_BUCKET):
        for item in page.get("Contents", []):
            count += 1
            total += int(item["Size"])
    return Truth(objects=count, bytes=total)


def run_demo(options: DemoOptions, console: Console, show_job: Callable[[Job], None]) -> int:
    """Run the demo; 0 when the job succeeded with counters equal to the bucket's truth."""
    began = time.monotonic()
    function = FunctionConfig(timeout_ms=int(options.timeout_s * 1000))
    console.print(
        f"[bold]baton demo[/]: {options.objects:,} objects of about {human_bytes(options.size)}, "
        f"function timeout {options.timeout_s:g} s, faults: {options.faults.describe()}"
    )
    with LocalStack(
        function=function,
        faults=options.faults,
        min_margin_ms=options.min_margin_ms,
        checkpoint_s=options.checkpoint_s,
        log_level="WARNING",
    ) as stack:
        console.print(
            f"local stack up: moto (DynamoDB, S3) at {stack.moto_url}, Lambda at {stack.lambda_url}"
        )
        uploaded = fill_bucket(stack, options, console)
        spec = prepare(
            "s3-walk",
            {"bucket": DEMO_BUCKET, "action": options.action, "concurrency": options.concurrency},
            action_modules=stack.action_modules,
            now_ms=stack.store.clock.now_ms(),
        )
        launched = launch(stack.store, stack.client("lambda"), function.name, spec)
        console.print(f"started job {launched.job.job_id} (s3-walk, action {options.action})")
        job = _watch(stack, launched.job, options, console)
        return _report(stack, job, uploaded, options, console, show_job, time.monotonic() - began)


def _progress(console: Console, *extra: Any) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _watch(stack: LocalStack, job: Job, options: DemoOptions, console: Console) -> Job:
    """Poll the job item and show objects, bytes, hops and rate until the job ends."""
    watchdog = LocalWatchdog(
        stack,
        on_nudge=lambda j: console.print(
            f"watchdog: the chain stalled QUEUED at epoch {j.epoch}; re-sent its event"
        ),
    )
    started = time.monotonic()
    last_hops = -1
    live = console.is_terminal
    progress = _progress(console, TextColumn("{task.fields[detail]}"))
    task = progress.add_task("walking", total=options.objects, detail="")

    def show(job: Job) -> None:
        nonlocal last_hops
        objects = job.counters.get("objects", 0)
        rate = objects / max(time.monotonic() - started, 1e-3)
        detail = (
            f"{human_bytes(job.counters.get('bytes', 0))}  hops {job.hops}  "
            f"{rate:,.0f} obj/s  {job.status.value.lower()}"
        )
        if live:
            progress.update(task, completed=objects, detail=detail)
        elif job.hops != last_hops:
            console.print(f"hop {job.hops:>3}: {objects:>7,} objects  {detail}")
        last_hops = job.hops

    with progress if live else nullcontext():
        return follow(stack, job, options.max_wait_s, console, watchdog, show)


def _report(
    stack: LocalStack,
    job: Job,
    uploaded: Truth,
    options: DemoOptions,
    console: Console,
    show_job: Callable[[Job], None],
    elapsed_s: float,
) -> int:
    console.print()
    show_job(job)
    truth = bucket_truth(stack)
    stats = stack.lambda_.snapshot()
    checks = [
        ("job status", "SUCCEEDED", job.status.value),
        ("objects counted", f"{truth.objects:,}", f"{job.counters.get('objects', 0):,}"),
        ("bytes counted", f"{truth.bytes:,}", f"{job.counters.get('bytes', 0):,}"),
        ("bucket as uploaded", f"{uploaded.objects:,} / {uploaded.bytes:,}",
         f"{truth.objects:,} / {truth.bytes:,}"),
    ]  # fmt: skip
    if options.action == DEMO_ACTION:
        checks.append(
            ("objects read back", f"{truth.objects:,}", f"{job.counters.get('checked', 0):,}")
        )
    console.print()
    ok = checks_pass("checked against the bucket", checks, console)
    console.print(run_summary(job, stats, elapsed_s))
    return verdict(
        ok,
        console,
        "the counters equal the bucket's contents",
        "the job's counters do not match the bucket",
    )
