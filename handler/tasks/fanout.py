"""s3-fanout: one bucket as many parallel s3-walk chains, with one progress view.

The parent splits the key space into shards, starts one child job per shard (`parent_id` set)
with at most `max_concurrency` running at once, starts further shards as others end, and ends
when every shard has: SUCCEEDED, with the children's counters added up, unless more shards
failed than `tolerated_failures`. Each shard is an ordinary job: resumable, cancellable,
visible. Shards never overlap: every key belongs to exactly one range [start_at, end_before).

Splits:
- `prefixes`: the given prefixes, one shard each (none may contain another);
- `delimiter`: the common prefixes under `prefix` (descending up to `depth` levels until there
  are at least `shards` of them), cut into contiguous key ranges so objects between or beside
  the prefixes are covered too;
- `ranges`: explicit boundary keys, n boundaries giving n + 1 shards.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from handler.actions import validate_action
from handler.actions.params import whole_number
from handler.tasks import manifest_fanout
from handler.tasks.base import JobFailure, Resources, StepContext, Task
from handler.tasks.s3_walk import S3Walk
from store.constants import DEFAULT_MAX_ATTEMPTS
from store.errors import InvalidJob
from store.records import JobStatus

SPLITS = ("prefixes", "delimiter", "ranges", manifest_fanout.SPLIT)
CHILD_PARAMS = ("action", "action_params", "on_error", "max_failed")
PARAMS = (
    "bucket",
    "prefix",
    "split",
    "prefixes",
    "boundaries",
    "shards",
    "depth",
    "max_concurrency",
    "tolerated_failures",
    "child_max_hops",
    "child_max_attempts",
    "poll_s",
    *CHILD_PARAMS,
)
MAX_SHARDS = 10_000
MAX_JOB_ID = 128
PENDING = "PENDING"
TERMINAL = {s.value for s in JobStatus if s.terminal}
FAILED_LIKE = {JobStatus.FAILED.value, JobStatus.CANCELLED.value}


def child_id(parent_id: str, index: int) -> str:
    """The shard's job id: the parent's id and the index, hashed down if it would be too long."""
    suffix = f".s{index:04d}"
    if len(parent_id) + len(suffix) <= MAX_JOB_ID:
        return parent_id + suffix
    digest = hashlib.sha256(parent_id.encode()).hexdigest()[:8]
    return f"{parent_id[: MAX_JOB_ID - len(suffix) - 9]}-{digest}{suffix}"


def _whole(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    return whole_number(params, name, default, low, high, "s3-fanout ")


def _strings(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidJob(f"s3-fanout split needs {name}: a non-empty list of strings")
    if len(value) > MAX_SHARDS:
        raise InvalidJob(f"s3-fanout takes at most {MAX_SHARDS:,} {name}")
    return list(value)


class FanOut(Task):
    name = "s3-fanout"
    progress_counter = "objects"

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.parent_id = ""

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        if manifest_fanout.wanted(params):
            return manifest_fanout.validate(params, action_modules)
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise InvalidJob(
                f"s3-fanout does not take {', '.join(unknown)}; it takes {', '.join(PARAMS)}"
            )
        walk = S3Walk.validate(
            {k: params[k] for k in ("bucket", "prefix", *CHILD_PARAMS) if k in params},
            action_modules,
        )
        out: dict[str, Any] = dict(walk)
        split = params.get("split", "delimiter")
        if split not in SPLITS:
            raise InvalidJob(f"s3-fanout split must be one of {', '.join(SPLITS)}, got {split!r}")
        out["split"] = split
        if split == "prefixes":
            prefixes = sorted(set(_strings(params, "prefixes")))
            base = out.get("prefix", "")
            for p in prefixes:
                if not p.startswith(base):
                    raise InvalidJob(f"s3-fanout prefix {p!r} is outside prefix {base!r}")
            for a, b in itertools.pairwise(prefixes):
                if b.startswith(a):
                    raise InvalidJob(f"s3-fanout prefixes overlap: {a!r} contains {b!r}")
            out["prefixes"] = prefixes
        elif split == "ranges":
            boundaries = _strings(params, "boundaries")
            if boundaries != sorted(set(boundaries)):
                raise InvalidJob("s3-fanout boundaries must be distinct and in ascending order")
            out["boundaries"] = boundaries
        else:
            out["shards"] = _whole(params, "shards", 8, 1, MAX_SHARDS)
            out["depth"] = _whole(params, "depth", 3, 1, 10)
        out["max_concurrency"] = _whole(params, "max_concurrency", 10, 1, 1_000)
        out["tolerated_failures"] = _whole(params, "tolerated_failures", 0, 0, MAX_SHARDS)
        out["child_max_hops"] = _whole(params, "child_max_hops", 1_000, 1, 1_000_000)
        out["child_max_attempts"] = _whole(
            params, "child_max_attempts", DEFAULT_MAX_ATTEMPTS, 1, 100
        )
        out["poll_s"] = _whole(params, "poll_s", 5, 1, 300)
        validate_action(walk["action"], walk.get("action_params", {}), action_modules)
        return out

    def start(self) -> dict[str, Any]:
        return {"planned": False, "shards": []}

    # ------------------------------------------------------------------ planning

    def _walk_params(self, **bounds: str | None) -> dict[str, Any]:
        params = {k: self.params[k] for k in ("bucket", *CHILD_PARAMS) if k in self.params}
        if self.params.get("prefix"):
            params["prefix"] = self.params["prefix"]
        params.update({k: v for k, v in bounds.items() if v})
        return params

    def _common_prefixes(self, prefix: str) -> list[str]:
        found: list[str] = []
        pages = self.resources.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.params["bucket"], Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            found.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return found

    def _discover(self) -> list[str]:
        """Common prefixes, one level deeper at a time until there are enough of them."""
        level = self._common_prefixes(self.params.get("prefix", ""))
        for _ in range(self.params["depth"] - 1):
            if len(level) >= self.params["shards"]:
                break
            deeper: list[str] = []
            for p in level:
                children = self._common_prefixes(p)
                deeper.extend(children or [p])
            if deeper == level:
                break
            level = deeper
        return sorted(level)

    def plan(self) -> list[dict[str, Any]]:
        split = self.params["split"]
        if split == manifest_fanout.SPLIT:
            return [
                {
                    "id": child_id(self.parent_id, i),
                    "task": task,
                    "params": p,
                    "status": PENDING,
                    "counters": {},
                }
                for i, (task, p) in enumerate(manifest_fanout.plan(self.params, self.resources))
            ]
        if split == "prefixes":
            walks = [self._walk_params(prefix=p) for p in self.params["prefixes"]]
        else:
            cuts = self.params["boundaries"] if split == "ranges" else self._discover()[1:]
            edges: list[str | None] = [None, *cuts, None]
            walks = [
                self._walk_params(start_at=lo, end_before=hi)
                for lo, hi in itertools.pairwise(edges)
            ]
        return [
            {"id": child_id(self.parent_id, i), "params": w, "status": PENDING, "counters": {}}
            for i, w in enumerate(walks)
        ]

    # ------------------------------------------------------------------ running

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        children = self.resources.children
        if children is None:
            raise JobFailure("s3-fanout needs the job store; it cannot run here")
        self.parent_id = ctx.job_id
        if not state["planned"]:
            state["shards"] = self.plan()
            state["planned"] = True
            ctx.logger.info("fan-out planned", extra={"shards": len(state["shards"])})
            self._tally(state, ctx)
            return False
        changed = self._poll(state)
        launched = self._launch(state)
        self._tally(state, ctx)
        shards = state["shards"]
        if all(s["status"] in TERMINAL for s in shards):
            failed = [s["id"] for s in shards if s["status"] in FAILED_LIKE]
            if len(failed) > self.params["tolerated_failures"]:
                raise JobFailure(
                    f"{len(failed)} of {len(shards)} shards did not succeed (tolerated "
                    f"{self.params['tolerated_failures']}): {', '.join(failed[:10])}; "
                    f"`baton resume {self.parent_id}` re-runs only those"
                )
            return True
        if not changed and not launched:
            wait_ms = min(self.params["poll_s"] * 1000, max(0, ctx.work_window_ms() - 1_000))
            if wait_ms > 0:
                self.resources.sleep(wait_ms / 1000)
        return False

    def _poll(self, state: dict[str, Any]) -> bool:
        assert self.resources.children is not None
        # Failed and cancelled shards are read again too: an operator may have resumed them.
        watching = [
            s for s in state["shards"] if s["status"] not in (PENDING, JobStatus.SUCCEEDED.value)
        ]
        if not watching:
            return False
        jobs = self.resources.children.read(s["id"] for s in watching)
        changed = False
        for shard in watching:
            job = jobs.get(shard["id"])
            if job is None:
                continue
            if job.status.value != shard["status"] or job.counters != shard["counters"]:
                changed = True
            shard["status"] = job.status.value
            shard["counters"] = dict(job.counters)
        return changed

    def _launch(self, state: dict[str, Any]) -> int:
        children = self.resources.children
        assert children is not None
        shards = state["shards"]
        running = sum(1 for s in shards if s["status"] not in (PENDING, *TERMINAL))
        launched = 0
        for shard in shards:
            if running >= self.params["max_concurrency"]:
                break
            if shard["status"] != PENDING:
                continue
            job = children.launch(
                self.parent_id,
                shard["id"],
                shard["params"],
                task=shard.get("task", S3Walk.name),
                max_hops=self.params["child_max_hops"],
                max_attempts=self.params["child_max_attempts"],
            )
            shard["status"] = job.status.value
            shard["counters"] = dict(job.counters)
            running += 1
            launched += 1
        return launched

    def _tally(self, state: dict[str, Any], ctx: StepContext) -> None:
        """The parent's counters: the shards' counters added up, and shards by status."""
        totals: dict[str, int] = {}
        for shard in state["shards"]:
            for name, value in shard["counters"].items():
                totals[name] = totals.get(name, 0) + int(value)
            key = f"shards_{shard['status'].lower()}"
            totals[key] = totals.get(key, 0) + 1
        totals["shards"] = len(state["shards"])
        ctx.counters.clear()
        ctx.counters.update(totals)

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for shard in state.get("shards", []):
            by_status[shard["status"]] = by_status.get(shard["status"], 0) + 1
        failed = [s["id"] for s in state.get("shards", []) if s["status"] in FAILED_LIKE]
        return {
            "shards": len(state.get("shards", [])),
            "by_status": by_status,
            "failed_shards": failed[:20],
        }

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        for shard in state.get("shards", []):
            yield {"type": "shard", **shard}
