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
- `ranges`: explicit boundary keys, n boundaries giving n + 1 shards;
- `manifest` (`--manifest`): an S3 Inventory report split by data file, one s3-manifest shard
  per group of consecutive files. The parent reads the manifest once when it plans, and hands
  every shard the manifest's ETag, so a report replaced between planning and a shard's start
  fails that shard instead of walking a file range planned for another report. Files never
  overlap: shard i walks files [first_file, end_file) of the same manifest version.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from baton.handler.api import (
    MAX_SHARDS,
    ActionParams,
    BucketName,
    JobFailure,
    JobStatus,
    KeyText,
    Resources,
    ShardParams,
    Shards,
    StepContext,
    Task,
    action_modules,
    flag_of,
    parse_params,
    plan_shards,
    read_manifest,
    shards_report,
    shards_summary,
)
from baton.handler.tasks.builtin.s3_manifest import ManifestWalk
from baton.handler.tasks.builtin.s3_walk import MAX_CONCURRENCY, S3Walk, S3WalkParams

CHILD_PARAMS = ("action", "action_params", "on_error", "max_failed", "concurrency")
MANIFEST_SPLIT = "manifest"
# What each s3-manifest shard takes from the parent's parameters.
MANIFEST_CHILD_PARAMS = ("manifest", "action", "action_params", "on_error", "max_failed")
# The options each split takes (the others are refused, not dropped), and what it needs.
SPLIT_OPTIONS: dict[str, tuple[str, ...]] = {
    "delimiter": ("shards", "depth"),
    "prefixes": ("prefixes",),
    "ranges": ("boundaries",),
    MANIFEST_SPLIT: ("manifest", "shards"),
}
# A manifest lists the objects: the walk's own bounds and concurrency do not apply.
NOT_WITH_MANIFEST = ("bucket", "prefix", "concurrency")


class FanOutParams(ShardParams, ActionParams):
    bucket: BucketName | None = Field(None, description="Bucket to walk (not with --manifest)")
    prefix: KeyText | None = Field(None, description="Only keys under this prefix")
    split: Literal["delimiter", "prefixes", "ranges", "manifest"] | None = Field(
        None,
        description="How to cut the keys into shards: delimiter (the default), prefixes, "
        "ranges, or manifest (the default with --manifest)",
    )
    prefixes: list[KeyText] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SHARDS,
        description="--split prefixes: one shard per prefix (repeat the flag)",
        json_schema_extra={"flag": "shard_prefix"},
    )
    boundaries: list[KeyText] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SHARDS,
        description="--split ranges: a boundary key, n boundaries giving n + 1 shards "
        "(repeat the flag, in ascending order)",
        json_schema_extra={"flag": "boundary"},
    )
    shards: int | None = Field(
        None,
        ge=0,
        le=MAX_SHARDS,
        description="--split delimiter: at least this many shards (default 8); --manifest: "
        "groups of data files (default one shard per file)",
    )
    depth: int | None = Field(
        None, ge=1, le=10, description="--split delimiter: folder levels to look down (default 3)"
    )
    concurrency: int | None = Field(
        None, ge=1, le=MAX_CONCURRENCY, description="Each shard's objects in flight at once"
    )
    manifest: str | None = Field(
        None,
        description="s3://bucket/key of an S3 Inventory manifest.json: one s3-manifest shard "
        "per group of its data files",
    )
    _stored: dict[str, Any] = PrivateAttr(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        return dict(self._stored)

    @model_validator(mode="after")
    def _split_options(self, info: ValidationInfo) -> Self:
        manifest = self.manifest is not None or self.split == MANIFEST_SPLIT
        split = MANIFEST_SPLIT if manifest else self.split or "delimiter"
        given = self.model_fields_set
        if manifest:
            refused = [n for n in NOT_WITH_MANIFEST if n in given]
            if refused:
                raise ValueError(f"with manifest does not take {', '.join(refused)}")
        for name in sorted(given - set(SPLIT_OPTIONS[split])):
            homes = [s for s, names in SPLIT_OPTIONS.items() if name in names]
            if homes:
                raise ValueError(
                    f"split {split} does not take {name} ({flag_of(FanOutParams, name)} is for "
                    f"--split {' or '.join(homes)})"
                )
        modules = action_modules(info)
        self._stored = (
            self._manifest_split(modules) if manifest else self._key_split(split, modules)
        )
        return self

    def _manifest_split(self, modules: tuple[str, ...]) -> dict[str, Any]:
        child_params = self.model_dump(include=set(MANIFEST_CHILD_PARAMS), exclude_none=True)
        child = ManifestWalk.validate(child_params, modules)
        child.pop("first_file", None)
        return {
            **child,
            "split": MANIFEST_SPLIT,
            **self.shard_settings(),
            "shards": self.shards or 0,
        }

    def _key_split(self, split: str, modules: tuple[str, ...]) -> dict[str, Any]:
        if self.bucket is None:
            raise ValueError("needs bucket (the bucket to walk) or manifest")
        walk_params = self.model_dump(
            include={"bucket", "prefix", *CHILD_PARAMS}, exclude_none=True
        )
        out: dict[str, Any] = parse_params(S3WalkParams, walk_params, "s3-fanout", modules).stored()
        out["split"] = split
        if split == "prefixes":
            out["prefixes"] = self._prefixes(out.get("prefix", ""))
        elif split == "ranges":
            out["boundaries"] = self._boundaries()
        else:
            if self.shards == 0:
                raise ValueError("shards must be at least 1 with split delimiter")
            out["shards"] = self.shards or 8
            out["depth"] = self.depth or 3
        out.update(self.shard_settings())
        return out

    def _prefixes(self, base: str) -> list[str]:
        if self.prefixes is None:
            raise ValueError("split prefixes needs prefixes (--shard-prefix), one per shard")
        prefixes = sorted(set(self.prefixes))
        for p in prefixes:
            if not p.startswith(base):
                raise ValueError(f"prefix {p!r} is outside prefix {base!r}")
        for a, b in itertools.pairwise(prefixes):
            if b.startswith(a):
                raise ValueError(f"prefixes overlap: {a!r} contains {b!r}")
        return prefixes

    def _boundaries(self) -> list[str]:
        """Non-empty, distinct and ascending: an empty boundary would be read as "no bound" by
        its two neighbouring shards, which would then walk the same keys twice."""
        boundaries = self.boundaries
        if boundaries is None:
            raise ValueError("split ranges needs boundaries (--boundary), in ascending order")
        if "" in boundaries:
            raise ValueError("boundaries must not be empty: an empty key bounds nothing")
        if boundaries != sorted(set(boundaries)):
            raise ValueError("boundaries must be distinct and in ascending order")
        return list(boundaries)


def manifest_shards(
    params: Mapping[str, Any], resources: Resources
) -> list[tuple[str, dict[str, Any]]]:
    """(child task, child params) per shard: consecutive files, `shards` groups (0: one each)."""
    manifest = read_manifest(resources.s3, params["manifest"], None)
    files = len(manifest.files)
    groups = min(files, params.get("shards") or files)
    base = {k: params[k] for k in MANIFEST_CHILD_PARAMS if k in params}
    base["manifest_etag"] = manifest.etag
    shards = []
    for i in range(groups):
        first, end = i * files // groups, (i + 1) * files // groups
        shards.append((ManifestWalk.name, {**base, "first_file": first, "end_file": end}))
    return shards


class FanOut(Task):
    name = "s3-fanout"
    progress_counter = "objects"
    has_shards = True
    Params = FanOutParams

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.parent_id = ""

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
        if split == MANIFEST_SPLIT:
            return plan_shards(self.parent_id, manifest_shards(self.params, self.resources))
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
            Shards.tally(state, ctx)
            # The plan is committed before any shard starts: a retry after a crash reads it
            # back instead of re-planning from a listing that may have changed meanwhile.
            ctx.commit_now()
            return False
        return Shards(self.resources, self.params, self.name).advance(state, ctx)

    def woken(self, state: dict[str, Any]) -> bool:
        return Shards(self.resources, self.params, self.name).moved(state)

    def stopping(self, state: dict[str, Any], status: JobStatus) -> None:
        Shards.pass_on(self.resources, state, status)

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return shards_summary(state)

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return shards_report(state)
