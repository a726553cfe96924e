"""The buckets and runs the suite and `make scale` share, and what each run measured.

Every run starts real baton jobs in a fresh `World` and checks the counters against the key
space's own arithmetic (`KeySpace.count`, `total_bytes`): exact, or the outcome says not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from moto import mock_aws

from baton.handler.observability import logger
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.framework.base import Resources
from baton.store.constants import BY_STATUS_INDEX
from baton.store.records import Job, JobStatus
from benchmarks.twin.figures import figure
from benchmarks.twin.keyspace import MAX_KEY_BYTES, KeySpace, Segment
from benchmarks.twin.world import Sample, World

# ---------------------------------------------------------------------- buckets


def mixed_bucket(total: int) -> KeySpace:
    """The shapes that break things, `total` keys in all: `data-backup/` beside `data/` (`-`
    sorts before `/`), one flat prefix with 90% of the keys, a deep tree, 1,024-byte keys and
    non-ASCII keys."""
    shares = {"hot": 0.90, "data-backup": 0.03, "data": 0.02, "deep": 0.02, "long": 0.01}
    n = {k: int(total * v) for k, v in shares.items()}
    n["unicode"] = total - sum(n.values())
    digits = len(str(max(n.values())))
    tail = ".bin"
    long_head = "long/" + "k" * (MAX_KEY_BYTES - len("long/") - digits - len(tail) - 1) + "/"
    deep_groups = _groups(len(str(max(1, n["deep"] - 1))))
    return KeySpace(
        [
            Segment("hot/", n["hot"], tail),
            Segment("data-backup/", n["data-backup"], tail),
            Segment("data/", n["data"], tail),
            Segment("deep/a/b/c/d/e/f/", n["deep"], tail, groups=deep_groups),
            Segment(long_head, n["long"], tail, groups=(digits,)),
            Segment("ünï/日本/データ-", n["unicode"], tail),
        ]
    )


def _groups(width: int) -> tuple[int, ...]:
    """Digits cut into levels of two (a deep tree: 1,234,567 -> "1/23/45/67")."""
    head = width % 2 or 2
    return (head,) + (2,) * ((width - head) // 2)


def uniform_bucket(total: int, head: str = "objects/") -> KeySpace:
    return KeySpace([Segment(head, total)])


def prefixed_bucket(prefixes: int, per_prefix: int) -> KeySpace:
    """`prefixes` top-level prefixes (p0000/, p0001/, ...) of `per_prefix` keys each: what the
    default `delimiter` split cuts into one shard per prefix."""
    wide = len(str(prefixes - 1))
    deep = len(str(per_prefix - 1))
    if per_prefix != 10**deep:
        raise ValueError("per_prefix must be a power of ten (the digits are cut into levels)")
    return KeySpace([Segment("p", prefixes * per_prefix, groups=(wide, deep))])


def gap_bucket(skipped: int, wanted: int = 5) -> KeySpace:
    """Defect 1's shape: `skipped` keys in `data-backup/`, a few in `data/`."""
    return KeySpace([Segment("data-backup/", skipped), Segment("data/", wanted)])


def tenant_bucket(tenants: int) -> KeySpace:
    """One object per tenant: `count_by_tenant` keeps one counter name per object."""
    return KeySpace([Segment("tenants/t", tenants)])


def quantile_boundaries(space: KeySpace, shards: int) -> list[str]:
    """shards - 1 boundary keys cutting the key space into equal counts (what S3 Inventory
    would let a user pick)."""
    total = space.count
    return [space.key_at(total * i // shards) for i in range(1, shards)]


# ---------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    name: str
    statuses: dict[str, int]
    counters: dict[str, int]
    expected_objects: int
    expected_bytes: int
    wall_s: float
    cpu_s: float
    world: World = field(repr=False)
    jobs: list[Job] = field(default_factory=list, repr=False)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return (
            self.counters.get("objects") == self.expected_objects
            and self.counters.get("bytes") == self.expected_bytes
        )

    @property
    def succeeded(self) -> bool:
        return set(self.statuses) == {JobStatus.SUCCEEDED.value}

    @property
    def samples(self) -> list[Sample]:
        return self.world.samples

    def figures(self) -> dict[str, Any]:
        """What the report prints for this run."""
        w = self.world
        lam, ddb, s3 = w.lam, w.ddb, w.s3
        cost = {"lambda": lam.cost_usd(), "dynamodb": ddb.cost_usd(), "s3": s3.cost_usd()}
        return {
            "statuses": self.statuses,
            "exact counters": self.exact,
            "objects": self.counters.get("objects"),
            "predicted AWS wall time (s)": round(self.wall_s, 1),
            "Lambda invocations": lam.stats["invocations"],
            "Lambda cold starts": lam.stats["cold_starts"],
            "Lambda throttled deliveries": lam.stats["throttled"],
            "Lambda timeouts (killed at the deadline)": lam.stats["timeouts"],
            "Lambda GB-seconds": round(lam.gb_seconds, 1),
            "GB-seconds by role": {k: round(v, 1) for k, v in lam.gb_seconds_by.items()},
            "peak running invocations": max((r for _, r in lam.running_series), default=0),
            "DynamoDB write units (table)": ddb.write_units["table"],
            "DynamoDB write units (by-status index)": ddb.write_units[BY_STATUS_INDEX],
            "DynamoDB read units": round(ddb.read_units, 1),
            "peak write units/s, one partition": {
                k: f"{v[0]:g} ({v[1]})" for k, v in sorted(ddb.peak.items())
            },
            "DynamoDB throttled writes": dict(ddb.throttled),
            "largest item (bytes)": f"{ddb.largest_item:,} ({ddb.largest_item_id})",
            "largest by-status index item (bytes)": ddb.largest_index_item,
            "largest state (bytes)": f"{ddb.largest_state:,} ({ddb.largest_state_id})",
            "S3 requests": dict(s3.requests),
            "S3 keys listed": s3.keys_listed,
            "S3 SlowDown replies": s3.slowdowns,
            "peak requests/s on one prefix": s3.peak_prefix_rps,
            "cost (USD)": {k: round(v, 4) for k, v in cost.items()}
            | {"total": round(sum(cost.values()), 4)},
            "twin CPU (s)": round(self.cpu_s, 1),
            "virtual-clock switches": w.loop.switches,
            **self.notes,
        }


def _outcome(
    name: str, world: World, space: KeySpace | None, started: float, top: list[str], **notes: Any
) -> Outcome:
    """Read the jobs back (inside the run's moto) and sum up their statuses and counters."""
    jobs = [world.store.find(j) for j in top]
    found = [j for j in jobs if j is not None]
    statuses: dict[str, int] = {}
    counters: dict[str, int] = {}
    for job in found:
        statuses[job.status.value] = statuses.get(job.status.value, 0) + 1
        for k, v in job.counters.items():
            counters[k] = counters.get(k, 0) + int(v)
    errors = [j.last_error for j in found if j.last_error]
    if errors:
        notes.setdefault("last error", errors[0][:300])
    return Outcome(
        name,
        statuses,
        counters,
        space.count if space else 0,
        space.total_bytes() if space else 0,
        (world.lam.last_end_ms - world.loop.start_ms) / 1000,
        time.process_time() - started,
        world,
        found,
        notes,
    )


# ---------------------------------------------------------------------- runs


def fanout_count(
    name: str,
    space: KeySpace,
    shards: int,
    *,
    reserved: int,
    max_hours: float = 12.0,
) -> Outcome:
    """`s3-fanout` with the `count` action over `space`, cut at equal-count boundaries."""
    with mock_aws():
        started = time.process_time()
        world = World(buckets={"bucket": space}, reserved=reserved)
        params = {
            "bucket": "bucket",
            "action": "count",
            "split": "ranges",
            "boundaries": quantile_boundaries(space, shards),
            "max_concurrency": min(1_000, max(1, reserved - 1)),
        }
        world.start("s3-fanout", params, job_id=f"{name}-parent", max_hops=10_000)
        world.run(max_hours=max_hours)
        return _outcome(name, world, space, started, world.jobs)


def fanout_by_prefix(
    name: str, space: KeySpace, shards: int, *, reserved: int, max_hours: float = 12.0
) -> Outcome:
    """`s3-fanout` with `count` and the default `delimiter` split (one shard per prefix)."""
    with mock_aws():
        started = time.process_time()
        world = World(buckets={"bucket": space}, reserved=reserved)
        params = {
            "bucket": "bucket",
            "action": "count",
            "shards": shards,
            "max_concurrency": min(1_000, max(1, reserved - 1)),
        }
        world.start("s3-fanout", params, job_id=f"{name}-parent", max_hops=10_000)
        world.run(max_hours=max_hours)
        return _outcome(name, world, space, started, world.jobs)


def walk_count(
    name: str,
    space: KeySpace,
    *,
    params: dict[str, Any] | None = None,
    expected: KeySpace | None = None,
    timeout_s: int = 900,
    max_hours: float = 2.0,
    action: str = "count",
) -> Outcome:
    """One `s3-walk` job; `expected` is the part of the bucket it should count."""
    with mock_aws():
        started = time.process_time()
        world = World(buckets={"bucket": space}, reserved=10, timeout_s=timeout_s)
        world.start(
            "s3-walk", {"bucket": "bucket", "action": action, **(params or {})}, job_id=name
        )
        world.run(max_hours=max_hours)
        return _outcome(name, world, expected or space, started, world.jobs)


def many_jobs(
    name: str, jobs: int, per_job: int, *, reserved: int, max_hours: float = 2.0
) -> Outcome:
    """`jobs` independent s3-walk count jobs started at once (as a script or a fan-out would):
    every claim moves an item from the QUEUED to the RUNNING partition of the by-status index."""
    spaces = {f"b{i:05d}": uniform_bucket(per_job, f"j{i:05d}/") for i in range(jobs)}
    with mock_aws():
        started = time.process_time()
        world = World(buckets=spaces, reserved=reserved)
        for bucket in spaces:
            world.start("s3-walk", {"bucket": bucket, "action": "count"}, job_id=f"{name}-{bucket}")
        world.run(max_hours=max_hours)
        total = KeySpace([s for space in spaces.values() for s in space.segments])
        return _outcome(name, world, total, started, world.jobs)


def concurrent_fanouts(
    name: str, fanouts: int, shards: int, per_shard: int, *, reserved: int, max_hours: float = 6.0
) -> Outcome:
    """`fanouts` s3-fanout jobs started at once under one reserved concurrency."""
    spaces = {f"bucket{i}": uniform_bucket(shards * per_shard, f"f{i}/") for i in range(fanouts)}
    with mock_aws():
        started = time.process_time()
        world = World(buckets=spaces, reserved=reserved)
        for i, (bucket, space) in enumerate(spaces.items()):
            params = {
                "bucket": bucket,
                "action": "count",
                "split": "ranges",
                "boundaries": quantile_boundaries(space, shards),
                "max_concurrency": shards,
            }
            world.start("s3-fanout", params, job_id=f"{name}-{i}", max_hops=10_000)
        world.run(max_hours=max_hours)
        total = KeySpace([s for space in spaces.values() for s in space.segments])
        return _outcome(name, world, total, started, world.jobs)


def delimiter_plan(space: KeySpace, shards: int) -> dict[str, Any]:
    """What s3-fanout's default `delimiter` split plans for `space` (the real planner, over the
    twin's listing): how many shards, and the largest one's share of the keys."""
    with mock_aws():
        world = World(buckets={"bucket": space})
        params = FanOut.validate({"bucket": "bucket", "action": "count", "shards": shards}, ())
        task = FanOut(params, Resources(s3=world.s3_client, action_modules=(), logger=logger))
        task.parent_id = "plan"
        planned = task.plan()
    sizes = [
        space.count_in(s["params"].get("start_at"), s["params"].get("end_before")) for s in planned
    ]
    largest = max(sizes)
    page_s = (
        figure("s3_list_ms")
        + 1_000 * (figure("s3_list_parse_us_per_key") + figure("count_us_per_key")) / 1_000
    ) / 1_000
    return {
        "shards planned": len(planned),
        "largest shard (keys)": largest,
        "largest shard's share": f"{largest / space.count:.1%}",
        "wall time lower bound (s)": round(largest / 1_000 * page_s),
    }
