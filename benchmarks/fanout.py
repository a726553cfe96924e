"""Fan-out scaling: wall time to walk one bucket as 1, 2, 4 and 8 shards on the local stack.

The action waits on I/O (a fixed sleep per object, like a copy or a tag call to S3), so the
shards' time is spent waiting, not computing, and the two cores of the machine do not cap the
speed-up. The workers are warmed by one untimed run first. Every run uses the same bucket,
action and function settings; only the number of shards (and the concurrency cap, set to it)
changes. The figure is the speed-up over one shard.

    python -m benchmarks.fanout [--objects 800] [--sleep-ms 40] [--out build/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from handler.launch import launch, prepare
from local.function import FunctionConfig
from local.stack import LocalStack
from store.records import JobStatus

SLOW = "tests.support.local_actions:slow"
BUCKET = "fanout-bench"


@dataclass(frozen=True)
class Run:
    shards: int
    seconds: float
    objects: int
    parent_hops: int


def measure(stack: LocalStack, keys: list[str], shards: int, sleep_ms: int) -> Run:
    step = len(keys) // shards
    boundaries = [keys[i * step] for i in range(1, shards)]
    params = {
        "bucket": BUCKET,
        "split": "ranges",
        "max_concurrency": shards,
        "poll_s": 1,
        "action": SLOW,
        "action_params": {"sleep_ms": sleep_ms},
        # One object at a time per shard: this figure is about shards, not in-hop concurrency.
        "concurrency": 1,
    }
    if boundaries:
        params["boundaries"] = boundaries
    else:
        params["split"] = "prefixes"
        params["prefixes"] = [""]
    spec = prepare(
        "s3-fanout",
        params,
        action_modules=stack.action_modules,
        now_ms=stack.store.clock.now_ms(),
        job_id=f"fan-{shards}-{time.time_ns()}",
    )
    started = time.monotonic()
    launch(stack.store, stack.client("lambda"), stack.function.name, spec)
    job = stack.wait_for_job(spec.job_id, lambda j: j.status.terminal, timeout_s=600)
    took = time.monotonic() - started
    if job.status is not JobStatus.SUCCEEDED or job.counters.get("objects") != len(keys):
        raise SystemExit(f"fan-out with {shards} shards ended {job.status}: {job.counters}")
    return Run(shards, took, job.counters["objects"], job.hops)


def run(objects: int, sleep_ms: int, widths: list[int]) -> list[Run]:
    with LocalStack(
        function=FunctionConfig(timeout_ms=10_000, account_concurrency=max(widths) + 1),
        min_margin_ms=2_000,
        checkpoint_s=2,
        action_modules=("local.demo_actions", "tests.support.local_actions"),
        log_level="WARNING",
    ) as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        keys = [f"obj/{i:06d}" for i in range(objects)]
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"f")
        # Warm every worker first: on AWS each sandbox has CPUs of its own, here cold starts
        # (imports) of many workers at once would share two cores and blur the figure.
        measure(stack, keys, max(widths), 0)
        return [measure(stack, keys, n, sleep_ms) for n in widths]


def write(runs: list[Run], objects: int, sleep_ms: int, out: Path) -> None:
    base = runs[0].seconds
    rows = [
        "| shards (= concurrency cap) | wall time | speed-up over 1 shard | ideal |",
        "|---|---|---|---|",
    ]
    for r in runs:
        rows.append(f"| {r.shards} | {r.seconds:.1f} s | {base / r.seconds:.2f}x | {r.shards}x |")
    (out / "fanout.json").write_text(json.dumps([r.__dict__ for r in runs], indent=1) + "\n")
    (out / "fanout.md").write_text("\n".join(rows) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    xs = [r.shards for r in runs]
    ax.plot(xs, [base / r.seconds for r in runs], "o-", label="measured")
    ax.plot(xs, xs, "--", color="grey", label="ideal (linear)")
    ax.set_xlabel("shards (concurrency cap)")
    ax.set_ylabel("speed-up over one shard")
    ax.set_title(f"{objects} objects, {sleep_ms} ms of I/O wait each")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "fanout.png")


def figure(objects: int, sleep_ms: int, widths: tuple[int, ...]) -> dict[str, object]:
    """The fan-out figure for `make bench` (benchmarks/__main__.py)."""
    runs = run(objects, sleep_ms, list(widths))
    return {"objects": objects, "sleep_ms": sleep_ms, "runs": [r.__dict__ for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=800)
    parser.add_argument("--sleep-ms", type=int, default=40)
    parser.add_argument("--widths", default="1,2,4,8")
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    widths = [int(w) for w in args.widths.split(",")]
    runs = run(args.objects, args.sleep_ms, widths)
    write(runs, args.objects, args.sleep_ms, args.out)
    print((args.out / "fanout.md").read_text())


if __name__ == "__main__":
    main()
