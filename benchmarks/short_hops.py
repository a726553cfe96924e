"""Short hops: a `count` walk through the in-process relay with 3 s, 10 s and 60 s hops, side by
side with the plain loop over the same bucket, and what the budget learned at each hand-off.

python -m benchmarks.short_hops [--objects N] [--hops 3,10,60] [--margin-ms MS]

Each hop length runs relay and plain walk in alternating order; the figure is the relay's rate
over the plain loop's, measured in the same minute on the same server. Per hop it records the
margin the budget handed on, its per-object estimate, and the ListObjectsV2 page sizes asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baton.handler.event import RelayEvent
from baton.handler.observability import metrics
from baton.handler.relay import Relay
from baton.store.clock import wall_ms as now_ms
from benchmarks.harness import BenchContext, Env, RelayRunner, plain_walk

OBJECTS = 60_000
HOP_SECONDS = (3, 10, 60)
# The hand-off floor for these runs: what an operator would set under a 3-second timeout.
MARGIN_MS = 500
GOAL = 0.85


class PageSizes:
    """Records the MaxKeys of every ListObjectsV2 the relay sends (a botocore hook, no patch)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.sizes.append(int(params.get("MaxKeys", 1_000)))


def run_chain(runner: RelayRunner, bucket: str, hop_ms: int) -> dict[str, Any]:
    """One walk to its end, hop after hop, with the learned timing read after each hand-off."""
    job = runner.start(bucket)
    pages = PageSizes()
    s3 = runner.env.s3
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", pages)
    hops: list[dict[str, Any]] = []
    epoch = job.epoch
    started = time.perf_counter()
    try:
        while True:
            before = len(pages.sizes)
            context = BenchContext(deadline_ms=now_ms() + hop_ms)
            relay = Relay(runner.runtime, RelayEvent(job_id=job.job_id, epoch=epoch), context)
            try:
                result = relay.run()
            finally:
                metrics.clear_metrics()
            timing = runner.store.get(job.job_id).timing
            hops.append(
                {
                    "margin_ms": timing.get("margin_ms"),
                    "item_us": timing.get("item_us"),
                    "step_ms": timing.get("step_ms"),
                    "pages": pages.sizes[before:],
                }
            )
            if result["outcome"] != "handed_off":
                break
            epoch = runner.catcher.events[-1]["epoch"]
    finally:
        s3.meta.events.unregister("provide-client-params.s3.ListObjectsV2", pages)
    seconds = time.perf_counter() - started
    final = runner.store.get(job.job_id)
    return {
        "seconds": seconds,
        "objects": final.counters.get("objects", 0),
        "status": final.status.value,
        "hops": hops,
    }


def figure(
    env: Env,
    objects: int = OBJECTS,
    hop_seconds: tuple[int, ...] = HOP_SECONDS,
    margin_ms: int = MARGIN_MS,
) -> dict[str, Any]:
    bucket = env.bucket("short-hops", objects)
    runner = RelayRunner(env, min_margin_ms=margin_ms)
    plain_walk(env.s3, bucket)  # warm the server's listing path
    rows = []
    for i, hop_s in enumerate(hop_seconds):
        order = ("plain", "relay") if i % 2 == 0 else ("relay", "plain")
        # The machine is shared: the load average (1 min) beside each pair says how noisy it was.
        row: dict[str, Any] = {"hop_s": hop_s, "load": round(os.getloadavg()[0], 1)}
        for which in order:
            if which == "plain":
                walk = plain_walk(env.s3, bucket)
                row["plain_s"], row["plain_objects"] = walk.seconds, walk.objects
            else:
                chain = run_chain(runner, bucket, hop_s * 1000)
                row["relay_s"], row["relay_objects"] = chain["seconds"], chain["objects"]
                row["status"], row["hops"] = chain["status"], chain["hops"]
        row["ratio"] = (row["relay_objects"] / row["relay_s"]) / (
            row["plain_objects"] / row["plain_s"]
        )
        rows.append(row)
    return {"objects": objects, "margin_ms": margin_ms, "goal": GOAL, "rows": rows}


def for_config(env: Env, name: str) -> dict[str, Any]:
    """`make bench` runs the full figure; the smoke run (`--quick`) a few hundred objects."""
    if name == "quick":
        return figure(env, objects=600, hop_seconds=(3,))
    return figure(env)


def render(result: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md: one row per hop length, then the per-hop learning."""
    out = [
        "## Short hops: the budget under 3 s, 10 s and 60 s timeouts\n",
        f"A `count` walk of {result['objects']:,} objects through the in-process relay, hop "
        f"after hop, side by side with the plain loop; hand-off floor {result['margin_ms']} ms. "
        f"Goal: {GOAL:.0%} of the plain loop's rate with 3 s hops.\n",
        "| hop | hops | relay s | plain s | relay / plain | status | load avg |",
        "|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in result["rows"]:
        out.append(
            f"| {row['hop_s']} s | {len(row['hops'])} | {row['relay_s']:.1f} | "
            f"{row['plain_s']:.1f} | {row['ratio']:.0%} | {row['status']} | "
            f"{row.get('load', '-')} |"
        )
    out.append("")
    for row in result["rows"]:
        out.append(f"Per hop, {row['hop_s']} s hops (learned margin, ms per object, page sizes):\n")
        out.append("| hop | margin ms | µs/object | pages (MaxKeys) |")
        out.append("|---:|---:|---:|---|")
        for n, hop in enumerate(row["hops"][:12], start=1):
            pages = hop["pages"]
            shown = ", ".join(str(p) for p in pages[:6]) + (" ..." if len(pages) > 6 else "")
            out.append(f"| {n} | {hop['margin_ms']} | {hop['item_us']} | {shown or '-'} |")
        if len(row["hops"]) > 12:
            out.append(f"| ... | | | {len(row['hops']) - 12} more hops |")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=OBJECTS)
    parser.add_argument("--hops", default=",".join(str(h) for h in HOP_SECONDS))
    parser.add_argument("--margin-ms", type=int, default=MARGIN_MS)
    parser.add_argument("--save", type=Path, default=None, help="write the raw result (JSON)")
    args = parser.parse_args(argv)
    hops = tuple(int(h) for h in args.hops.split(","))
    with tempfile.TemporaryDirectory(prefix="baton-short-") as tmp, Env(Path(tmp)) as env:
        result = figure(env, args.objects, hops, args.margin_ms)
    if args.save:
        args.save.write_text(json.dumps(result), encoding="utf-8")
    sys.stdout.write(render(result))


if __name__ == "__main__":
    main()
