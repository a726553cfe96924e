"""Walks against S3 latency: per-request latency injected in the server, not in the action.

Two figures, both on the benchmark's moto server with every S3 request held `latency_ms` (a
uniform draw, 20-50 ms by default, like real S3) on its own server thread before moto serves it:

- an I/O-bound action (`benchmarks.actions:tag`, one PutObjectTagging per object) through
  `s3-walk` at growing `concurrency`, against the same action in a plain sequential boto3 loop;
  the speed-up over concurrency 1, and where it flattens, the server's measured limit (moto
  serves one request at a time: its seconds per request, from the server's own clock);
- `count` (no request per object) walked by baton and by the plain loop, alternating, so the
  listing's latency is the cost and listing prefetch is what could beat the plain loop.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness import ACTIONS, Env, RelayRunner, injected_latency, plain_walk
from benchmarks.sizes import BenchConfig
from handler.launch import prepare
from store.clock import wall_ms as now_ms
from store.errors import InvalidJob

TAG_ACTION = f"{ACTIONS}:tag"


def _tag_plain(env: Env, bucket: str) -> Any:
    def tag(item: dict[str, Any]) -> None:
        env.s3.put_object_tagging(
            Bucket=bucket,
            Key=item["Key"],
            Tagging={"TagSet": [{"Key": "walked", "Value": "baton"}]},
        )

    return plain_walk(env.s3, bucket, tag)


def _service(env: Env, op: str) -> tuple[int, float]:
    counters = env.server.counters()
    return counters["calls"].get(op, 0), counters["service_s"].get(op, 0.0)


def _supports_concurrency(bucket: str) -> str | None:
    """None when this build's s3-walk takes `concurrency`, else the error it gives."""
    params = {"bucket": bucket, "action": TAG_ACTION, "concurrency": 2}
    try:
        prepare("s3-walk", params, action_modules=(ACTIONS,), now_ms=now_ms())
    except InvalidJob as exc:
        return str(exc)
    return None


def io_bound(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """Tag every object at concurrency 1, 4, 16, 32 (and the plain loop), latency injected."""
    bucket = env.bucket("latency-tag", cfg.latency_objects)
    low, high = cfg.latency_ms
    with injected_latency(env, (low, high)):
        runner = RelayRunner(env)
        missing = _supports_concurrency(bucket)
        env.server.reset()
        plain = _tag_plain(env, bucket)
        calls, inside = _service(env, "s3.PutObjectTagging")
        service_ms = inside / max(1, calls) * 1000  # one at a time: no lock wait
        rows: list[dict[str, Any]] = []
        for n in cfg.latency_concurrency:
            if n > 1 and missing:
                continue
            params = {"concurrency": n} if not missing else {}
            env.server.reset()
            result = runner.run(runner.start(bucket, action=TAG_ACTION, **params))
            tags, _ = _service(env, "s3.PutObjectTagging")
            rows.append(
                {
                    "concurrency": n,
                    "seconds": result.seconds,
                    "objects": result.job.counters.get("objects", 0),
                    "tag_requests": tags,
                    "status": result.job.status.value,
                    "errors": result.errors,
                }
            )
    base = rows[0]["seconds"] if rows else 0.0
    for row in rows:
        row["rate"] = row["objects"] / row["seconds"] if row["seconds"] else 0.0
        row["speedup"] = base / row["seconds"] if row["seconds"] else 0.0
    mean_latency_ms = (low + high) / 2
    return {
        "objects": cfg.latency_objects,
        "latency_ms": [low, high],
        "missing": missing,
        "plain_s": plain.seconds,
        "plain_rate": plain.rate,
        "service_ms": service_ms,
        # moto serves one request at a time: it cannot answer faster than this (calculated)
        "server_limit_rps": 1000 / service_ms if service_ms else 0.0,
        # concurrency at which N requests in flight would fill moto (calculated)
        "knee": (mean_latency_ms + service_ms) / service_ms if service_ms else 0.0,
        "rows": rows,
    }


def count_prefetch(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """`count` by baton and by the plain loop, alternating pairs, with listing latency."""
    bucket = env.bucket("latency-count", cfg.latency_count_objects)
    low, high = cfg.latency_ms
    with injected_latency(env, (low, high)):
        runner = RelayRunner(env)
        pairs = []
        for i in range(cfg.latency_count_pairs):
            row: dict[str, float] = {}
            for which in ("plain", "relay") if i % 2 == 0 else ("relay", "plain"):
                job = runner.start(bucket) if which == "relay" else None
                env.server.reset()
                if job is None:
                    row["plain_rate"] = plain_walk(env.s3, bucket).rate
                else:
                    result = runner.run(job)
                    row["relay_rate"] = result.job.counters["objects"] / result.seconds
                row[f"{which}_lists"] = _service(env, "s3.ListObjectsV2")[0]
            row["ratio"] = row["relay_rate"] / row["plain_rate"]
            pairs.append(row)
    ratios = [p["ratio"] for p in pairs]
    return {
        "objects": cfg.latency_count_objects,
        "latency_ms": [low, high],
        "pairs": pairs,
        "ratio_median": statistics.median(ratios),
        "relay_rate": statistics.median(p["relay_rate"] for p in pairs),
        "plain_rate": statistics.median(p["plain_rate"] for p in pairs),
        "relay_lists": pairs[-1]["relay_lists"],
        "plain_lists": pairs[-1]["plain_lists"],
    }
