"""Walks against S3 latency: per-request latency injected in the server, not in the action.

Two figures, both on the benchmark's moto server with every S3 request held `latency_ms` (a
uniform draw, 20-50 ms by default, like real S3) on its own server thread before moto serves it
(the wait costs no CPU and is outside the lock that serialises moto):

- an I/O-bound action (`benchmarks.actions:tag`, one PutObjectTagging per object) through
  `s3-walk` at growing `concurrency`, against the same action in a plain sequential boto3 loop;
  the speed-up over concurrency 1, where each run spent its time (the server's and the client's
  CPU, moto's lock), and the server's measured limit: tag requests per second from many plain
  threads, no baton;
- `count` (no request per object) walked by baton and by the plain loop, alternating, so the
  listing's latency is the cost and listing prefetch is what could beat the plain loop.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from baton.handler.launch import prepare
from baton.store.clock import wall_ms as now_ms
from baton.store.errors import InvalidJob
from benchmarks.figures import median_interval, note_errors, rotated
from benchmarks.harness import (
    ACTIONS,
    Env,
    RelayRunner,
    WalkResult,
    best_walk,
    injected_latency,
    plain_walk,
)
from benchmarks.sizes import BenchConfig

TAG_ACTION = f"{ACTIONS}:tag"
TAG_OP = "s3.PutObjectTagging"
TAG_SET: Any = {"TagSet": [{"Key": "walked", "Value": "baton"}]}


def _key(i: int) -> str:
    """The i-th key of a bucket the server filled (`benchmarks.server.fill`)."""
    return f"k{i:07d}"


def _tag_plain(env: Env, bucket: str, objects: int) -> WalkResult:
    """What a user writes: list the first `objects` keys, tag them one after another."""
    started = time.perf_counter()
    page = env.s3.list_objects_v2(Bucket=bucket, MaxKeys=objects)
    for item in page.get("Contents", []):
        env.s3.put_object_tagging(Bucket=bucket, Key=item["Key"], Tagging=TAG_SET)
    return WalkResult(page.get("KeyCount", 0), 0, time.perf_counter() - started, 1)


def _usage(env: Env, seconds: float, client_cpu_s: float) -> dict[str, float]:
    """Where a run's time went, from the server's counters since its reset and this process's
    CPU: tag requests, each process's CPU as a share of one core, moto's CPU per tag request,
    and the time a tag request spent inside moto's lock beyond its own CPU (waiting for the
    lock or for a core)."""
    counters = env.server.counters()
    tags = counters["calls"].get(TAG_OP, 0)
    inside = counters["service_s"].get(TAG_OP, 0.0)
    inside_cpu = counters["service_cpu_s"].get(TAG_OP, 0.0)
    return {
        "tag_requests": tags,
        "requests": sum(counters["calls"].values()),
        "server_busy": counters["process_cpu_s"] / seconds if seconds else 0.0,
        "client_busy": client_cpu_s / seconds if seconds else 0.0,
        "server_cpu_ms": counters["process_cpu_s"] / max(1, tags) * 1000,
        "moto_cpu_ms": inside_cpu / max(1, tags) * 1000,
        "wait_ms": max(0.0, inside - inside_cpu) / max(1, tags) * 1000,
        "load": os.getloadavg()[0],
    }


def _supports_concurrency(bucket: str) -> str | None:
    """None when this build's s3-walk takes `concurrency`, else the error it gives."""
    params = {"bucket": bucket, "action": TAG_ACTION, "concurrency": 2}
    try:
        prepare("s3-walk", params, action_modules=(ACTIONS,), now_ms=now_ms())
    except InvalidJob as exc:
        return str(exc)
    return None


def saturate(env: Env, bucket: str, objects: int, threads: int) -> dict[str, float]:
    """The server's limit, measured: tag requests per second from `threads` plain boto3
    threads (no baton), latency on, far more requests in flight than it can serve."""
    keys = [_key(i) for i in range(objects)]
    env.server.reset()
    cpu = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda k: env.s3.put_object_tagging(Bucket=bucket, Key=k, Tagging=TAG_SET), keys
            )
        )
    seconds = time.perf_counter() - started
    usage = _usage(env, seconds, time.process_time() - cpu)
    return {"threads": threads, "seconds": seconds, "rate": objects / seconds, **usage}


def _tag_run(
    env: Env, runner: RelayRunner, bucket: str, n: int, params: dict[str, Any]
) -> dict[str, Any]:
    """One walk of the tag action at concurrency `n`: its rate and where its time went."""
    job = runner.start(bucket, action=TAG_ACTION, **params)
    env.server.reset()
    cpu = time.process_time()
    result = runner.run(job)
    note_errors("latency_io", result)
    objects = result.job.counters.get("objects", 0)
    return {
        "concurrency": n,
        "seconds": result.seconds,
        "objects": objects,
        "rate": objects / result.seconds if result.seconds else 0.0,
        "status": result.job.status.value,
        "errors": result.errors,
        **_usage(env, result.seconds, time.process_time() - cpu),
    }


def io_bound(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """Tag objects at concurrency 1, 4, 16, 32 (and the plain loop), latency injected.

    The plain loop tags the first `latency_objects` keys, concurrency N the first N times as
    many (at most `latency_objects_max`): every run lasts about as long, so the job's fixed
    costs (its claim, first listing and finish) are the same small share of each, and a
    speed-up compares throughput, not how much of a shorter run the fixed costs took.

    Every concurrency runs once per round, in turn, `latency_rounds` times. A speed-up is a
    ratio of rates within one round (the machine's load drifts over minutes); a row reports the
    median round's run, with the lowest and highest speed-up of all rounds.
    """
    few, many = cfg.latency_objects, max(cfg.latency_objects, cfg.latency_objects_max)
    bucket = env.bucket("latency-tag", many)
    low, high = cfg.latency_ms
    levels = list(cfg.latency_concurrency)
    with injected_latency(env, (low, high)):
        runner = RelayRunner(env)
        missing = _supports_concurrency(bucket)
        if missing:
            levels = [n for n in levels if n == 1]
        env.server.reset()
        cpu = time.process_time()
        plain = _tag_plain(env, bucket, few)
        plain_usage = _usage(env, plain.seconds, time.process_time() - cpu)
        rounds: list[dict[int, dict[str, Any]]] = []
        for _ in range(max(1, cfg.latency_rounds)):
            runs: dict[int, dict[str, Any]] = {}
            for n in levels:
                params: dict[str, Any] = {} if missing else {"concurrency": n}
                params["end_before"] = _key(min(few * n, many))
                runs[n] = _tag_run(env, runner, bucket, n, params)
            base_rate = runs[levels[0]]["rate"] if levels else 0.0
            for run in runs.values():
                run["speedup"] = run["rate"] / base_rate if base_rate else 0.0
            rounds.append(runs)
        limit = saturate(env, bucket, many, cfg.latency_saturate_threads)
    rows = [_median_round(n, [r[n] for r in rounds]) for n in levels]
    base = rows[0]["rate"] if rows else 0.0
    return {
        "objects": few,
        "objects_max": many,
        "latency_ms": [low, high],
        "missing": missing,
        "rounds": len(rounds),
        "plain_s": plain.seconds,
        "plain_rate": plain.rate,
        "plain_usage": plain_usage,
        "saturation": limit,
        # the most tag requests/s this server answered on this machine in this run (measured)
        "server_limit_rps": limit["rate"],
        # the speed-up that limit allows over concurrency 1, and so the requests in flight
        # that fill it (calculated: limit / concurrency 1's median rate)
        "knee": limit["rate"] / base if base else 0.0,
        "rows": rows,
    }


def _median_round(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose speed-up is the median of the rounds' (the lower middle one of an even
    count), with every round's speed-up beside it."""
    ordered = sorted(runs, key=lambda r: r["speedup"])
    ups = [r["speedup"] for r in ordered]
    return {
        **ordered[(len(ordered) - 1) // 2],
        "concurrency": n,
        "speedups": [r["speedup"] for r in runs],
        "speedup_low": ups[0],
        "speedup_high": ups[-1],
    }


def count_prefetch(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """`count` by baton, by the best plain loop (baton's timestamp parsing and a prefetched
    next page) and by the boto3-defaults loop, in rotating rounds, with listing latency. The
    ratio is baton's against the best loop."""
    bucket = env.bucket("latency-count", cfg.latency_count_objects)
    low, high = cfg.latency_ms
    with injected_latency(env, (low, high)):
        runner = RelayRunner(env)
        pairs = []
        for i in range(cfg.latency_count_pairs):
            row: dict[str, float] = {}
            for which in rotated(i):
                job = runner.start(bucket) if which == "relay" else None
                env.server.reset()
                if which == "plain":
                    row["plain_rate"] = plain_walk(env.s3, bucket).rate
                elif which == "best":
                    row["best_rate"] = best_walk(env.worker_s3(), bucket).rate
                else:
                    assert job is not None
                    result = runner.run(job)
                    note_errors("latency_count", result)
                    row["relay_rate"] = result.job.counters["objects"] / result.seconds
                row[f"{which}_lists"] = env.server.counters()["calls"].get("s3.ListObjectsV2", 0)
            row["ratio"] = row["relay_rate"] / row["best_rate"]
            row["ratio_defaults"] = row["relay_rate"] / row["plain_rate"]
            pairs.append(row)
    ratios = [p["ratio"] for p in pairs]
    low_ratio, high_ratio = median_interval(ratios)
    defaults = [p["ratio_defaults"] for p in pairs]
    return {
        "objects": cfg.latency_count_objects,
        "latency_ms": [low, high],
        "anchor": "best",
        "pairs": pairs,
        "ratio_median": statistics.median(ratios),
        "ratio_low": low_ratio,
        "ratio_high": high_ratio,
        "defaults_ratio_median": statistics.median(defaults),
        "relay_rate": statistics.median(p["relay_rate"] for p in pairs),
        "best_rate": statistics.median(p["best_rate"] for p in pairs),
        "plain_rate": statistics.median(p["plain_rate"] for p in pairs),
        "relay_lists": pairs[-1]["relay_lists"],
        "best_lists": pairs[-1]["best_lists"],
        "plain_lists": pairs[-1]["plain_lists"],
    }
