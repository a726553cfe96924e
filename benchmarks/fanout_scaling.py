"""Fan-out scaling: wall time to walk one bucket as 1, 2, 4 and 8 shards on the local stack.

Each object costs one real S3 request (`benchmarks.actions:tag`, PutObjectTagging) to the
benchmark's server, which holds every S3 request 20-50 ms before moto serves it (see
`benchmarks.server`), so the shards wait on S3 as they would on AWS and the two cores of the
machine do not cap the speed-up until moto's own one-at-a-time service does. The parent parks
while its shards run (no invocation, no slot) and each shard that stops wakes it, as in
production. The local Lambda service's
workers use the benchmark's server for DynamoDB and S3, so every request is counted there. The
workers are warmed by one untimed run first; only the number of shards (and the concurrency
cap, set to it) changes between runs, each shard walking one object at a time (`concurrency`
1 where the build has it: the figure is about shards, the concurrency figure about threads).
The figure is the speed-up over one shard.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from baton.store.records import JobStatus
from benchmarks.harness import ACTIONS, Env, injected_latency, one_at_a_time
from benchmarks.sizes import BenchConfig

TAG = f"{ACTIONS}:tag"
BUCKET = "fanout-bench"


@dataclass(frozen=True)
class Run:
    shards: int
    seconds: float
    objects: int
    parent_hops: int


def measure(env: Env, stack: LocalStack, keys: list[str], shards: int, action: str) -> Run:
    step = len(keys) // shards
    boundaries = [keys[i * step] for i in range(1, shards)]
    params: dict[str, Any] = {
        "bucket": BUCKET,
        "split": "ranges",
        "max_concurrency": shards,
        "action": action,
    }
    if boundaries:
        params["boundaries"] = boundaries
    else:
        params["split"] = "prefixes"
        params["prefixes"] = [""]
    store = env.store()
    spec = prepare(
        "s3-fanout",
        one_at_a_time("s3-fanout", params),
        action_modules=(ACTIONS,),
        now_ms=store.clock.now_ms(),
        job_id=f"fan-{shards}-{time.time_ns()}",
    )
    started = time.monotonic()
    launch(store, stack.client("lambda"), stack.function.name, spec)
    deadline = started + 600
    while True:
        job = store.get(spec.job_id)
        if job.status.terminal or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # the harness's own poll: 50 ms of resolution on the end
    took = time.monotonic() - started
    if job.status is not JobStatus.SUCCEEDED or job.counters.get("objects") != len(keys):
        raise SystemExit(f"fan-out with {shards} shards ended {job.status}: {job.counters}")
    return Run(shards, took, job.counters["objects"], job.hops)


def figure(env: Env, cfg: BenchConfig) -> dict[str, Any]:
    """The fan-out figure for `make bench` (benchmarks/__main__.py)."""
    widths = list(cfg.fanout_widths)
    env.bucket(BUCKET, cfg.fanout_objects)
    keys = [f"k{i:07d}" for i in range(cfg.fanout_objects)]  # the keys `fill` made
    low, high = cfg.latency_ms
    with env.local_stack(
        FunctionConfig(timeout_ms=60_000, account_concurrency=max(widths) + 1),
        min_margin_ms=2_000,
        checkpoint_s=2,
    ) as stack:
        # Warm every worker first, without latency: on AWS each sandbox has CPUs of its own,
        # here cold starts (imports) of many workers at once would share two cores.
        measure(env, stack, keys, max(widths), f"{ACTIONS}:sleep")
        with injected_latency(env, (low, high)):
            env.server.reset()
            runs = [measure(env, stack, keys, n, TAG) for n in widths]
            counters = env.server.counters()
    tags = counters["calls"].get("s3.PutObjectTagging", 0)
    probe = {"bucket": BUCKET, "split": "prefixes", "prefixes": [""], "action": TAG}
    return {
        # whether each shard walked one object at a time (else the build's default)
        "serial": "concurrency" in one_at_a_time("s3-fanout", probe),
        "objects": cfg.fanout_objects,
        "latency_ms": [low, high],
        "tag_requests": tags,
        "runs": [r.__dict__ for r in runs],
    }
