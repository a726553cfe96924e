"""s3-lines memory: the worker's peak RSS while reading JSON Lines objects of growing size.

`python -m benchmarks.lines [MB ...]` (default 10 and 200 MB; `make bench` runs it too). Each
size runs on a fresh local stack (real worker processes, moto's server): one object of ~200-byte
records read with `count` through 8 MiB ranged GETs over many hops. The figure is the largest
VmHWM (peak resident set) of any worker process of that stack, so it is the reader's own memory,
and the claim is that it stays flat (within 20%) from the smallest size to the largest, while
`records` and `bytes` equal the object's lines and size exactly.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from baton.local.demo.sample_inputs import json_lines
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack

BUCKET = "bench-lines"
KEY = "export.jsonl"
RECORD_BYTES = 200
RANGE = 8 * 1024**2
DEFAULT_SIZES_MB = (10, 200)


def vm_hwm_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class WorkerPeak(threading.Thread):
    """Samples every worker's VmHWM while the job runs (workers may be replaced)."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.sample()

    def sample(self) -> None:
        assert self.stack.service is not None
        for pid in self.stack.service.worker_pids():
            self.peak = max(self.peak, vm_hwm_mb(pid))


def one_size(size_mb: int) -> dict[str, Any]:
    records = size_mb * 1_000_000 // RECORD_BYTES
    body = json_lines(records, width=RECORD_BYTES - 90)
    with LocalStack(
        function=FunctionConfig(timeout_ms=5_000, account_concurrency=2),
        min_margin_ms=2_000,
        checkpoint_s=2,
        log_level="WARNING",
    ) as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
        from baton.handler.launch import launch, prepare

        spec = prepare(
            "s3-lines",
            {"bucket": BUCKET, "key": KEY, "format": "jsonl", "range_size": RANGE},
            action_modules=stack.action_modules,
            now_ms=stack.store.clock.now_ms(),
        )
        job = launch(stack.store, stack.client("lambda"), stack.function.name, spec).job
        sampler = WorkerPeak(stack)
        sampler.start()
        started = time.perf_counter()
        done = stack.wait_for_job(
            job.job_id, lambda j: j.status.terminal, timeout_s=1_800, what="its end"
        )
        seconds = time.perf_counter() - started
        sampler.sample()
        sampler.done.set()
        sampler.join()
    exact = done.counters.get("records") == records and done.counters.get("bytes") == len(body)
    return {
        "size_mb": size_mb,
        "object_bytes": len(body),
        "records": records,
        "status": done.status.value,
        "counters": dict(done.counters),
        "exact": exact,
        "hops": done.hops,
        "seconds": seconds,
        "worker_peak_rss_mb": sampler.peak,
    }


def figure(sizes_mb: tuple[int, ...] = DEFAULT_SIZES_MB) -> dict[str, Any]:
    rows = [one_size(size) for size in sizes_mb]
    small, big = rows[0]["worker_peak_rss_mb"], rows[-1]["worker_peak_rss_mb"]
    growth = big / small - 1 if small else float("inf")
    return {"rows": rows, "growth": growth, "flat": abs(growth) <= 0.2, "range_bytes": RANGE}


def markdown(result: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md for this figure."""
    lines = [
        "## s3-lines: memory flat in the object's size",
        "",
        f"One JSON Lines object of ~{RECORD_BYTES}-byte records read with `count` through "
        f"{result['range_bytes'] // 1024**2} MiB ranged GETs on the local stack (5 s function "
        "timeout); memory is the largest peak RSS (VmHWM) of any worker process.",
        "",
        "| object | records | hops | counters exact | time | worker peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['object_bytes'] / 1e6:,.0f} MB | {row['records']:,} | {row['hops']} | "
            f"{'yes' if row['exact'] else 'NO'} | {row['seconds']:.0f} s | "
            f"{row['worker_peak_rss_mb']:.0f} MB |"
        )
    lines += [
        "",
        f"Peak RSS grew {result['growth'] * 100:+.1f}% from the smallest object to the largest "
        f"({'flat, within 20%' if result['flat'] else 'NOT flat: over 20%'}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    sizes = tuple(int(a) for a in argv) or DEFAULT_SIZES_MB
    result = figure(sizes)
    print(markdown(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
