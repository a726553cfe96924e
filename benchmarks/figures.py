"""Each figure of docs/benchmarks.md, measured side by side in one run.

Every function returns plain data (dicts and lists of numbers) for `benchmarks.report`. Times
are wall-clock seconds from `time.perf_counter`; CPU times are this process's
`time.process_time`, which other engineers' load on the machine does not inflate.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baton.handler.launch import prepare, send_event
from baton.store.clock import wall_ms as now_ms
from baton.store.codec import StateCodec, to_json_bytes
from baton.store.lease_holder import LeaseHolder
from baton.store.records import JobStatus, Progress
from benchmarks.harness import (
    ACTIONS,
    STATE_BUCKET,
    TABLE,
    Env,
    RelayRunner,
    best_walk,
    one_at_a_time,
    plain_walk,
    raw_listing,
)
from benchmarks.sizes import BenchConfig

# Failed attempts seen anywhere in the run (the relay re-raised; the runner retried like Lambda).
ERRORS: list[dict[str, str]] = []


def note_errors(figure: str, result: Any) -> None:
    for error in result.errors:
        ERRORS.append({"figure": figure, "error": error})
    if result.job.status is not JobStatus.SUCCEEDED:
        ERRORS.append(
            {"figure": figure, "error": f"job {result.job.status.value}: {result.job.last_error}"}
        )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median: order statistics whose coverage is at least
    `confidence` by the binomial distribution (no assumption about the shape of the noise)."""
    ordered = sorted(values)
    n = len(ordered)
    k = 0  # ordered[k] .. ordered[n-1-k]
    while k + 1 < n - 1 - (k + 1):
        below = sum(math.comb(n, i) for i in range(k + 2)) / 2**n
        if 1 - 2 * below < confidence:
            break
        k += 1
    return (ordered[k], ordered[n - 1 - k]) if ordered else (0.0, 0.0)


def _dynamo_writes(counters: dict[str, Any]) -> dict[str, int]:
    calls = counters["calls"]
    return {
        "update_item": calls.get("dynamodb.UpdateItem", 0),
        "put_item": calls.get("dynamodb.PutItem", 0),
        "get_item": calls.get("dynamodb.GetItem", 0),
        "failed_writes": calls.get("dynamodb.UpdateItem.failed", 0),
        "item_bytes": counters["item_bytes"].get("dynamodb.UpdateItem", 0),
        "write_units": counters["write_units"].get("dynamodb.UpdateItem", 0),
        "index_units": counters["index_units"].get("dynamodb.UpdateItem", 0),
        "item_max": counters["item_max"].get("dynamodb.UpdateItem", 0),
        "list_calls": calls.get("s3.ListObjectsV2", 0),
        "s3_puts": calls.get("s3.PutObject", 0),
    }


# ---------------------------------------------------------------------- relay overhead


WALKS = ("plain", "best", "relay")


def rotated(i: int) -> tuple[str, ...]:
    """The order of the three walks in round `i`: each goes first, second and last in turn."""
    return WALKS[i % 3 :] + WALKS[: i % 3]


def relay_overhead(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """baton's s3-walk vs the best plain loop a user could write, and vs boto3's defaults, same
    bucket, same requests, in rotating rounds.

    The verdict's ratio is baton against the best loop (`best_walk`: baton's timestamp parsing
    and a prefetched next page), so none of baton's lead comes from a worse anchor; the
    boto3-defaults loop stands beside it. Wall-time ratio per round (the user-visible figure),
    and the client CPU per object of each, whose difference is the relay's own per-object
    cost, free of the server's and the machine's noise.
    """
    bucket = env.bucket("overhead-walk", cfg.overhead_objects)
    runner = RelayRunner(env)
    runner.run(runner.start(bucket))  # warm every path (imports, connections, moto caches)
    plain_walk(env.s3, bucket)
    best_walk(env.worker_s3(), bucket)
    pairs: list[dict[str, float]] = []
    for i in range(cfg.overhead_pairs):
        row: dict[str, float] = {}
        for which in rotated(i):
            cpu = time.process_time()
            if which == "relay":
                result = runner.run(runner.start(bucket))
                note_errors("overhead", result)
                row["relay_s"] = result.seconds
                row["relay_objects"] = result.job.counters["objects"]
            else:
                walk = (
                    plain_walk(env.s3, bucket)
                    if which == "plain"
                    else best_walk(env.worker_s3(), bucket)
                )
                row[f"{which}_s"], row[f"{which}_objects"] = walk.seconds, walk.objects
            row[f"{which}_cpu_s"] = time.process_time() - cpu
        relay_rate = row["relay_objects"] / row["relay_s"]
        row["ratio"] = relay_rate / (row["best_objects"] / row["best_s"])
        row["ratio_defaults"] = relay_rate / (row["plain_objects"] / row["plain_s"])
        pairs.append(row)
    raw = [raw_listing(env.s3, bucket) for _ in range(2)]
    n = cfg.overhead_objects
    job_cost = job_fixed_cost(env, runner, cfg.overhead_pairs)
    ratios = [p["ratio"] for p in pairs]
    low, high = median_interval(ratios)
    defaults = [p["ratio_defaults"] for p in pairs]
    defaults_low, defaults_high = median_interval(defaults)
    extra_cpu_us = [(p["relay_cpu_s"] - p["best_cpu_s"]) / n * 1e6 for p in pairs]
    best_wall_us = _median([p["best_s"] / n * 1e6 for p in pairs])
    return {
        "objects": n,
        "bucket": bucket,
        "anchor": "best",
        "pairs": pairs,
        "ratio_median": _median(ratios),
        "ratio_low": low,
        "ratio_high": high,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "defaults_ratio_median": _median(defaults),
        "defaults_ratio_low": defaults_low,
        "defaults_ratio_high": defaults_high,
        "relay_rate": _median([p["relay_objects"] / p["relay_s"] for p in pairs]),
        "best_rate": _median([p["best_objects"] / p["best_s"] for p in pairs]),
        "plain_rate": _median([p["plain_objects"] / p["plain_s"] for p in pairs]),
        "raw_rate": max(r.rate for r in raw),
        "best_cpu_us": _median([p["best_cpu_s"] / n * 1e6 for p in pairs]),
        "plain_cpu_us": _median([p["plain_cpu_s"] / n * 1e6 for p in pairs]),
        "relay_cpu_us": _median([p["relay_cpu_s"] / n * 1e6 for p in pairs]),
        "extra_cpu_us": _median(extra_cpu_us),
        "best_wall_us": best_wall_us,
        # Calculated, not measured: the ratio the CPU difference alone implies.
        "cpu_ratio": best_wall_us / (best_wall_us + _median(extra_cpu_us)),
        **job_cost,
    }


def job_fixed_cost(env: Env, runner: RelayRunner, pairs: int) -> dict[str, Any]:
    """What a job costs beyond its objects: a one-object job through the relay against the best
    loop walking the same one object, alternated; the median difference with its interval.

    It is the claim's read, the claim, the first listing's wait (the loop waits for it too) and
    the finish: item writes the plain loop never makes, paid once per job (and once per hop).
    """
    bucket = env.bucket("one-object-job", 1)
    runner.run(runner.start(bucket))
    best_walk(env.worker_s3(), bucket)
    extra: list[float] = []
    for i in range(pairs):
        timed = {}
        for which in ("relay", "best") if i % 2 == 0 else ("best", "relay"):
            if which == "relay":
                timed[which] = runner.run(runner.start(bucket)).seconds
            else:
                timed[which] = best_walk(env.worker_s3(), bucket).seconds
        extra.append(timed["relay"] - timed["best"])
    low, high = median_interval(extra)
    return {
        "job_cost_ms": _median(extra) * 1000,
        "job_cost_low_ms": low * 1000,
        "job_cost_high_ms": high * 1000,
    }


def checkpoint_sweep(env: Env, cfg: BenchConfig, checkpoint_ms: float) -> dict[str, Any]:
    """Relay/plain throughput as a function of the checkpoint interval (one hop, same bucket)."""
    bucket = env.bucket("sweep-walk", cfg.sweep_objects)
    plain_walk(env.s3, bucket)
    points = []
    for interval in cfg.sweep_intervals_s:
        runner = RelayRunner(env, checkpoint_s=interval)
        ratios, checkpoints, seconds = [], [], []
        for _ in range(cfg.sweep_pairs):
            env.server.reset()
            result = runner.run(runner.start(bucket))
            note_errors("sweep", result)
            writes = _dynamo_writes(env.server.counters())
            plain = plain_walk(env.s3, bucket)
            ratios.append((result.job.counters["objects"] / result.seconds) / plain.rate)
            # claim + finish are 2 of the item writes; the rest are checkpoints
            checkpoints.append(writes["update_item"] - 2)
            seconds.append(result.seconds)
        points.append(
            {
                "interval_s": interval,
                "ratio": _median(ratios),
                "checkpoints": _median([float(c) for c in checkpoints]),
                "run_s": _median(seconds),
            }
        )
    return {"objects": cfg.sweep_objects, "points": points, "checkpoint_ms": checkpoint_ms}


# ---------------------------------------------------------------------- DynamoDB writes


def dynamo_writes(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """Writes per hop, per checkpoint and per 1,000 objects, counted at the server.

    A chain of hops (short hops, short checkpoint interval, so one run has many of both), and
    single-hop walks of growing buckets at the default interval.
    """
    bucket = env.bucket("writes-walk", cfg.writes_objects)
    runner = RelayRunner(
        env, checkpoint_s=cfg.writes_checkpoint_s, min_margin_ms=cfg.writes_margin_ms
    )
    job = runner.start(bucket)
    env.server.reset()
    # A bound on hops: on an overloaded machine a short hop may only claim, walk one object and
    # hand off; the figure is per write, so a cut-short chain still measures it (the job's
    # status is on the page), and the run does not walk for an hour.
    result = runner.run(job, hop_ms=cfg.writes_hop_ms, max_hops=cfg.writes_max_hops)
    writes = _dynamo_writes(env.server.counters())
    if result.job.status is JobStatus.SUCCEEDED or result.hops < cfg.writes_max_hops:
        note_errors("writes", result)
    hops = result.hops
    checkpoints = writes["update_item"] - 2 * hops  # each hop: a claim and a hand-off/finish
    chain = {
        "status": result.job.status.value,
        "objects": result.job.counters["objects"],
        "hops": hops,
        "seconds": result.seconds,
        "checkpoint_s": cfg.writes_checkpoint_s,
        "hop_ms": cfg.writes_hop_ms,
        "checkpoints": checkpoints,
        **writes,
        "writes_per_hop": writes["update_item"] / hops,
        "bytes_per_write": writes["item_bytes"] / max(1, writes["update_item"]),
        "units_per_write": writes["write_units"] / max(1, writes["update_item"]),
        # computed from item sizes, as AWS bills: the item's units plus the by-status index's
        "billed_units_per_write": (writes["write_units"] + writes["index_units"])
        / max(1, writes["update_item"]),
        "writes_per_1k_objects": writes["update_item"] / result.job.counters["objects"] * 1000,
    }
    by_size = []
    default = RelayRunner(env)
    for n in cfg.writes_sizes:
        b = env.bucket(f"writes-{n}", n)
        env.server.reset()
        res = default.run(default.start(b))
        note_errors("writes", res)
        w = _dynamo_writes(env.server.counters())
        by_size.append(
            {
                "objects": n,
                "seconds": res.seconds,
                "hops": res.hops,
                **w,
                "writes_per_1k_objects": w["update_item"] / n * 1000,
                "list_per_1k_objects": w["list_calls"] / n * 1000,
            }
        )
    return {"chain": chain, "by_size": by_size, "moto_capacity": consumed_capacity_probe(env)}


def consumed_capacity_probe(env: Env) -> dict[str, Any]:
    """What moto answers to ReturnConsumedCapacity for a 5,000-byte item, which AWS bills at
    5 write units (and 1 for a small update): whether the backend's figure can be used."""
    ddb = env.client("dynamodb")
    name = "baton-bench-capacity"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put = ddb.put_item(
        TableName=name,
        Item={"k": {"S": "a"}, "v": {"S": "x" * 5_000}},
        ReturnConsumedCapacity="TOTAL",
    )
    update = ddb.update_item(
        TableName=name,
        Key={"k": {"S": "a"}},
        UpdateExpression="SET w = :w",
        ExpressionAttributeValues={":w": {"S": "y"}},
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.delete_table(TableName=name)
    return {
        "put_5000_bytes": (put.get("ConsumedCapacity") or {}).get("CapacityUnits"),
        "update_same_item": (update.get("ConsumedCapacity") or {}).get("CapacityUnits"),
        "aws_put": 5,
        "aws_update": 5,
    }


# ---------------------------------------------------------------------- state size


def _state_of(raw_bytes: int) -> dict[str, Any]:
    """A JSON state of about `raw_bytes`: hex strings, which zlib shrinks to about half."""
    per = 64
    n = max(1, raw_bytes // (per + 3))
    blob = secrets.token_hex(per // 2 * n)
    return {"start_after": "k0000001", "seen": [blob[i * per : (i + 1) * per] for i in range(n)]}


def _claimed(env: Env, codec: StateCodec) -> tuple[Any, LeaseHolder]:
    store = env.store(codec=codec)
    spec = prepare("s3-walk", {"bucket": STATE_BUCKET}, action_modules=(ACTIONS,), now_ms=now_ms())
    store.create(spec)
    claim = store.claim(spec.job_id, 1, "bench/000000", now_ms() + 900_000)
    assert isinstance(claim, LeaseHolder)
    return store, claim


def state_size(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """Checkpoint time from 1 KB to 60 MB (under the 64 MiB state cap): inline, spilled, and
    a raw S3 put of the same bytes."""
    inline_store, inline_claim = _claimed(env, StateCodec(env.s3, STATE_BUCKET))
    spill_codec = StateCodec(env.s3, STATE_BUCKET, inline_limit=0)
    _, spill_claim = _claimed(env, spill_codec)
    rows = []
    for size in cfg.state_sizes:
        state = _state_of(size)
        reps = cfg.state_reps(size)
        encoded = StateCodec(None, None, inline_limit=1 << 62).encode("x", 1, state)
        raw = encoded.raw_size
        compressed = len(encoded.blob or b"")
        row: dict[str, Any] = {"size": size, "raw": raw, "compressed": compressed}
        body = to_json_bytes(state)
        timings: dict[str, list[float]] = {"inline": [], "spilled": [], "encode": [], "put": []}
        for _ in range(reps):
            started = time.perf_counter()
            StateCodec(None, None, inline_limit=1 << 62).encode("x", 1, state)
            timings["encode"].append(time.perf_counter() - started)
            if compressed <= inline_store.codec.inline_limit:
                started = time.perf_counter()
                inline_claim.checkpoint(Progress(state, {"objects": 1}))
                timings["inline"].append(time.perf_counter() - started)
            started = time.perf_counter()
            spill_claim.checkpoint(Progress(state, {"objects": 1}))
            timings["spilled"].append(time.perf_counter() - started)
            started = time.perf_counter()
            env.s3.put_object(Bucket=STATE_BUCKET, Key=f"bench/raw-{size}", Body=body)
            timings["put"].append(time.perf_counter() - started)
        for name, values in timings.items():
            row[f"{name}_s"] = _median(values) if values else None
        row["reps"] = reps
        rows.append(row)
    return {"rows": rows, "inline_limit": inline_store.codec.inline_limit}


# ---------------------------------------------------------------------- scaling


def scaling(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """Time, client CPU and peak memory of a whole walk at growing sizes, each in a fresh
    process (so peak RSS is the walk's own), relay vs plain vs bare listing."""
    rows = []
    for n in cfg.scale_sizes:
        bucket = env.bucket(f"scale-{n}", n)
        row: dict[str, Any] = {"objects": n}
        for mode in cfg.scale_modes:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.scale_child", env.url, bucket, mode],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "BATON_BENCH_TABLE": TABLE},
            )
            row[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            for error in row[mode].get("errors", []):
                ERRORS.append({"figure": f"scaling {n:,} {mode}", "error": error})
        rows.append(row)
    return {"rows": rows}


# ---------------------------------------------------------------------- hand-off latency


@dataclass
class HandoffSample:
    hop: int
    gap_ms: int


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def handoff_latency(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """From the hand-off write to the next claim, on the local Lambda service (warm workers).

    The workers of the local Lambda service are pointed at this benchmark's server, so their
    DynamoDB writes are counted at the server too. Each hop's `started_at` (its claim) and
    `ended_at` (its hand-off write) come from the item's `recent_hops`, polled as the chain runs.
    """
    from baton.local.lambda_service.function_config import FunctionConfig

    bucket = env.bucket("handoff-walk", cfg.handoff_objects)
    store = env.store()
    ordered: list[Any] = []
    chains: list[dict[str, Any]] = []
    env.server.reset()
    with env.local_stack(
        FunctionConfig(timeout_ms=cfg.handoff_timeout_ms, account_concurrency=2),
        min_margin_ms=cfg.handoff_margin_ms,
        checkpoint_s=60,
    ) as stack:
        for _ in range(cfg.handoff_chains):
            spec = prepare(
                "s3-walk",
                one_at_a_time(
                    "s3-walk",
                    {
                        "bucket": bucket,
                        "action": f"{ACTIONS}:sleep",
                        "action_params": {"sleep_ms": cfg.handoff_sleep_ms},
                    },
                ),
                action_modules=(ACTIONS,),
                now_ms=now_ms(),
                max_hops=100_000,
            )
            job, _ = store.create(spec)
            send_event(stack.client("lambda"), stack.function.name, job)
            hops: dict[int, Any] = {}
            deadline = time.monotonic() + cfg.handoff_timeout_s
            while True:
                done = store.get(job.job_id)
                for record in done.recent_hops:
                    hops[record.hop] = record
                if done.status.terminal:
                    break
                if time.monotonic() > deadline:
                    store.request_cancel(job.job_id)  # stops at its next hand-off
                    break
                time.sleep(0.2)  # polling interval: recent_hops keeps the last 20 hops
            chain = [hops[k] for k in sorted(hops)]
            ordered.extend(chain)
            chains.append(
                {
                    "status": done.status.value,
                    "hops": done.hops,
                    "objects": done.counters.get("objects", 0),
                    "records": chain,
                }
            )
        writes = _dynamo_writes(env.server.counters())
        snapshot = stack.lambda_.snapshot()
    total_hops = sum(c["hops"] for c in chains)
    gaps: list[HandoffSample] = []
    for c in chains:
        pairs = [
            HandoffSample(b.hop, _ms(b.started_at) - _ms(a.ended_at))
            for a, b in itertools.pairwise(c["records"])
            if b.hop == a.hop + 1 and a.ended_by == "budget"
        ]
        gaps.extend(pairs[cfg.handoff_warmup if c is chains[0] else 0 :])
    values = sorted(g.gap_ms for g in gaps)
    hop_s = [(_ms(h.ended_at) - _ms(h.started_at)) / 1000 for h in ordered]
    items = [float(h.items) for h in ordered if h.ended_by == "budget"]

    def pct(p: float) -> float:
        if not values:
            return 0.0
        return float(values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))])

    return {
        "chains": len(chains),
        "finished": sum(1 for c in chains if c["status"] == "SUCCEEDED"),
        "hops": total_hops,
        "seen_hops": len(ordered),
        "samples": len(values),
        "warmup_dropped": cfg.handoff_warmup,
        "gaps_ms": [g.gap_ms for g in gaps],
        "median_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": float(values[-1]) if values else 0.0,
        "min_ms": float(values[0]) if values else 0.0,
        "hop_s_median": _median(hop_s),
        "items_per_hop_median": _median(items),
        "objects": sum(c["objects"] for c in chains),
        "cold_starts": snapshot.get("cold_starts", 0),
        "service": snapshot,
        "invocations": snapshot.get("invocations", 0),
        "writes": writes,
        "writes_per_hop": writes["update_item"] / max(1, total_hops),
        "timeout_ms": cfg.handoff_timeout_ms,
        "margin_ms": cfg.handoff_margin_ms,
        "import_ms": import_time(cfg.handoff_import_reps),
    }


def import_time(reps: int, module: str = "baton.handler.app") -> dict[str, float]:
    """The Lambda package's import time in a fresh interpreter (`python -X importtime`): what a
    cold start adds before the handler runs, besides the sandbox's own start that AWS adds."""
    values = []
    for _ in range(max(1, reps)):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        for line in out.stderr.splitlines():
            fields = [f.strip() for f in line.removeprefix("import time:").split("|")]
            if len(fields) == 3 and fields[2] == module:
                values.append(int(fields[1]) / 1000)  # cumulative microseconds -> ms
    return {"median": _median(values), "max": max(values, default=0.0), "reps": len(values)}


# ---------------------------------------------------------------------- relay cost, no I/O


class _PagesS3:
    """An S3 client whose ListObjectsV2 pages are already parsed: the listing costs nothing."""

    def __init__(self, count: int) -> None:
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        self.keys = [f"k{i:07d}" for i in range(count)]
        self.items = [
            {
                "Key": k,
                "Size": 100,
                "ETag": '"e"',
                "StorageClass": "STANDARD",
                "LastModified": stamp,
            }
            for k in self.keys
        ]

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        after = request.get("StartAfter")
        start = bisect.bisect_right(self.keys, after) if after else 0
        end = start + int(request.get("MaxKeys", 1000))
        return {"Contents": self.items[start:end], "IsTruncated": end < len(self.keys)}


def relay_cost(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """baton's own CPU per object with the listing taken out (pre-parsed pages in memory),
    against the plain loop over the same pages: the relay's per-object overhead, exactly.

    The per-object figure is the difference between walks of two sizes, so the job's fixed
    costs (create, claim, finish) cancel out. Both sizes stay under about 3,100 objects: past
    that, `S3Walk._page_size` can overflow on a cheap action (see the failures section).
    """
    small, large = cfg.cost_sizes
    cpu: dict[tuple[str, int], list[float]] = {}
    for n in (small, large):
        fake = _PagesS3(n)
        runner = RelayRunner(env)
        runner.runtime.s3 = fake  # type: ignore[assignment]
        for _ in range(cfg.cost_reps):
            started = time.process_time()
            plain_walk(fake, "fake-bucket")
            cpu.setdefault(("plain", n), []).append(time.process_time() - started)
            job = runner.start("fake-bucket")
            started = time.process_time()
            result = runner.run(job)
            cpu.setdefault(("relay", n), []).append(time.process_time() - started)
            note_errors("relay cost", result)

    def per_object(which: str) -> float:
        return (_median(cpu[(which, large)]) - _median(cpu[(which, small)])) / (large - small) * 1e6

    return {
        "objects": f"{small:,} and {large:,}",
        "plain_us": per_object("plain"),
        "relay_us": per_object("relay"),
    }
