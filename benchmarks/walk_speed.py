"""`python -m benchmarks.walk_speed`: listing prefetch and in-hop concurrency, side by side.

Two targeted figures on the benchmark's moto server, each a ratio of runs made in one process,
alternated so load drifts hit both sides alike:

- `count`: baton's relay (listing prefetch on, and off) against the plain boto3 loop, with and
  without a per-request latency on ListObjectsV2;
- an I/O-bound action (one HeadObject per object) at concurrency 1, 4, 16 and 32, with a
  per-request latency on every S3 call.

Latency is injected in the benchmark's server (`benchmarks.server`, `/_bench/latency`): every S3
request waits there on its own server thread before moto serves it, as on the wire and in S3's
front end, so requests sent at once wait at once (a sleep in the client would hold the client's
thread instead). The "prefetch off" rows replace the walk's `Lister.prefetch` with a no-op for
the duration of those runs: that is the only patch, and it is what the row measures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from baton.handler.tasks.kit.listing import Lister
from benchmarks.harness import Env, RelayRunner, plain_walk


@contextmanager
def server_latency(env: Env, ms: float) -> Iterator[None]:
    """Every S3 request held `ms` in the server while inside (none after)."""
    env.server.latency(ms, ms)
    try:
        yield
    finally:
        env.server.latency(0, 0)


@contextmanager
def prefetch(enabled: bool) -> Iterator[None]:
    if enabled:
        yield
        return
    with mock.patch.object(Lister, "prefetch", lambda self, after, max_keys: None):
        yield


def baton_walk(runner: RelayRunner, bucket: str, action: str = "count", **params: Any) -> float:
    """Objects per second of one whole job through the relay (one long hop)."""
    job = runner.start(bucket, action, **params)
    result = runner.run(job)
    objects = result.job.counters.get("objects", 0)
    assert result.job.status.value == "SUCCEEDED", result.job.last_error
    return objects / result.seconds


def count_rows(env: Env, objects: int, pairs: int, list_latency_ms: float) -> list[dict[str, Any]]:
    bucket = env.bucket(f"speed-count-{int(list_latency_ms)}", objects)
    runner = RelayRunner(env)
    rates: dict[str, list[float]] = {"plain": [], "prefetch": [], "no_prefetch": []}
    with server_latency(env, list_latency_ms):
        for _ in range(pairs):
            rates["plain"].append(objects / plain_walk(env.s3, bucket).seconds)
            with prefetch(True):
                rates["prefetch"].append(baton_walk(runner, bucket))
            with prefetch(False):
                rates["no_prefetch"].append(baton_walk(runner, bucket))
    plain = statistics.median(rates["plain"])
    return [
        {
            "walk": f"count, every S3 request +{list_latency_ms:g} ms at the server",
            "side": side,
            "objects_per_s": statistics.median(values),
            "vs_plain": statistics.median(
                v / p for v, p in zip(values, rates["plain"], strict=True)
            ),
            "plain_objects_per_s": plain,
        }
        for side, values in rates.items()
    ]


def concurrency_rows(
    env: Env, objects: int, latency_ms: float, levels: tuple[int, ...]
) -> list[dict[str, Any]]:
    bucket = env.bucket(f"speed-head-{int(latency_ms)}", objects)
    runner = RelayRunner(env)
    rows = []
    base = 0.0
    for level in levels:
        with server_latency(env, latency_ms):
            rate = baton_walk(runner, bucket, "benchmarks.actions:head", concurrency=level)
        base = base or rate
        rows.append(
            {
                "walk": f"HeadObject per object, every S3 request +{latency_ms:g} ms at the server",
                "concurrency": str(level),
                "objects_per_s": rate,
                "vs_concurrency_1": rate / base,
                "efficiency": rate / base / level,
            }
        )
    ceiling = server_ceiling(env, bucket, latency_ms)
    rows.append(
        {
            "walk": "the server's ceiling: HeadObject from 32 plain threads, no baton",
            "concurrency": "32 threads",
            "objects_per_s": ceiling,
            "vs_concurrency_1": ceiling / base,
            "efficiency": ceiling / base / 32,
        }
    )
    return rows


def server_ceiling(env: Env, bucket: str, latency_ms: float, threads: int = 32) -> float:
    """HeadObject requests per second from `threads` plain threads, no baton: where any walk's
    concurrency must flatten on this server."""
    s3 = env.s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, MaxKeys=1_000)["Contents"]]
    with server_latency(env, latency_ms):
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda key: s3.head_object(Bucket=bucket, Key=key), keys))
        seconds = time.perf_counter() - started
    return len(keys) / seconds


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Callable[[Any], str]]]) -> str:
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(row[key]) for key, _, fmt in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.walk_speed", description=__doc__)
    parser.add_argument("--count-objects", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--io-objects", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=25)
    parser.add_argument("--levels", default="1,4,16,32")
    args = parser.parse_args(argv)
    levels = tuple(int(x) for x in args.levels.split(","))
    with tempfile.TemporaryDirectory() as tmp, Env(Path(tmp)) as env:
        count = count_rows(env, args.count_objects, args.pairs, 0)
        count += count_rows(env, args.count_objects, args.pairs, args.latency_ms)
        io = concurrency_rows(env, args.io_objects, args.latency_ms, levels)
    number: Callable[[Any], str] = lambda v: f"{v:,.0f}"  # noqa: E731
    ratio: Callable[[Any], str] = lambda v: f"{v:.3f}"  # noqa: E731
    print(
        table(
            count,
            [
                ("walk", "walk", str),
                ("side", "baton / loop", str),
                ("objects_per_s", "objects/s (median)", number),
                ("vs_plain", "rate vs plain loop (median of pairs)", ratio),
            ],
        )
    )
    print()
    print(
        table(
            io,
            [
                ("walk", "walk", str),
                ("concurrency", "concurrency", str),
                ("objects_per_s", "objects/s", number),
                ("vs_concurrency_1", "x concurrency 1", ratio),
                ("efficiency", "x / N", ratio),
            ],
        )
    )


if __name__ == "__main__":
    main()
