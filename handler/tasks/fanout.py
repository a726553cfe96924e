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

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from baton.handler.actions import validate_action
from baton.handler.actions.params import known_params, whole_number
from baton.handler.tasks import manifest_fanout
from baton.handler.tasks.base import JobFailure, Resources, StepContext, Task
from baton.handler.tasks.s3_walk import S3Walk
from baton.handler.tasks.shards import (
    MAX_SHARDS,
    SHARD_PARAMS,
    Shards,
    child_id,
    pass_on_request,
    plan_shards,
    shards_report,
    shards_summary,
    tally,
    validate_shard_params,
)
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus

__all__ = ["FanOut", "child_id"]

SPLITS = ("prefixes", "delimiter", "ranges")
CHILD_PARAMS = ("action", "action_params", "on_error", "max_failed", "concurrency")
PARAMS = (
    "bucket",
    "prefix",
    "split",
    "prefixes",
    "boundaries",
    "shards",
    "depth",
    *SHARD_PARAMS,
    *CHILD_PARAMS,
)


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
    has_shards = True

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.parent_id = ""

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        if manifest_fanout.wanted(params):
            return manifest_fanout.validate(params, action_modules)
        known_params(params, PARAMS, "s3-fanout")
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
        out.update(validate_shard_params(params, "s3-fanout"))
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
            return plan_shards(self.parent_id, manifest_fanout.plan(self.params, self.resources))
        if split == "prefixes":
            walks = [self._walk_params(prefix=p) for p in self.params["prefixes"]]
        else:
            cuts = self.params["boundaries"] if split == "ranges" else self._discover()[1:]
            edges: list[str | None] = [None, *cuts, None]
            walks = [
                self._walk_params(start_at=lo, end_before=hi)
                for lo, hi in itertools.pairwise(edges)
            ]
        return plan_shards(self.parent_id, ((S3Walk.name, w) for w in walks))

    # ------------------------------------------------------------------ running

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if self.resources.children is None:
            raise JobFailure("s3-fanout needs the job store; it cannot run here")
        self.parent_id = ctx.job_id
        if not state["planned"]:
            state["shards"] = self.plan()
            state["planned"] = True
            ctx.logger.info("fan-out planned", extra={"shards": len(state["shards"])})
            tally(state, ctx)
            # The plan is committed before any shard starts: a retry after a crash reads it
            # back instead of re-planning from a listing that may have changed meanwhile.
            ctx.commit_now()
            return False
        return Shards(self.resources, self.params, self.name).advance(state, ctx)

    def woken(self, state: dict[str, Any]) -> bool:
        return Shards(self.resources, self.params, self.name).moved(state)

    def stopping(self, state: dict[str, Any], status: JobStatus) -> None:
        pass_on_request(self.resources, state, status)

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return shards_summary(state)

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return shards_report(state)
