"""`s3-fanout --manifest`: an S3 Inventory report split by data file, one s3-manifest shard per
group of consecutive files.

The parent reads the manifest once when it plans, and hands every shard the manifest's ETag, so
a report replaced between planning and a shard's start fails that shard instead of walking a
file range planned for another report. Files never overlap: shard i walks files
[first_file, end_file) of the same manifest version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.handler.api import (
    SHARD_PARAMS,
    Resources,
    known_params,
    validate_shard_params,
    whole_number,
)
from baton.handler.tasks.inventory_files import read_manifest
from baton.handler.tasks.manifest_walk import ManifestWalk

SPLIT = "manifest"
CHILD_TASK = ManifestWalk.name
CHILD_PARAMS = ("manifest", "action", "action_params", "on_error", "max_failed")
PARENT_PARAMS = ("split", "shards", *SHARD_PARAMS)
MAX_SHARDS = 10_000


def wanted(params: Mapping[str, Any]) -> bool:
    return params.get("split") == SPLIT or "manifest" in params


def validate(params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
    """The normalised parameters: the shards' (an s3-manifest job's) and the parent's own."""
    known_params(params, (*CHILD_PARAMS, *PARENT_PARAMS), "s3-fanout --manifest")
    child = ManifestWalk.validate(
        {k: params[k] for k in CHILD_PARAMS if k in params}, action_modules
    )
    child.pop("first_file", None)
    out = {**child, "split": SPLIT, **validate_shard_params(params, "s3-fanout")}
    out["shards"] = whole_number(params, "shards", 0, 0, MAX_SHARDS, "s3-fanout ")
    return out


def plan(params: Mapping[str, Any], resources: Resources) -> list[tuple[str, dict[str, Any]]]:
    """(child task, child params) per shard: consecutive files, `shards` groups (0: one each)."""
    manifest = read_manifest(resources.s3, params["manifest"], None)
    files = len(manifest.files)
    groups = min(files, params.get("shards") or files)
    base = {k: params[k] for k in CHILD_PARAMS if k in params}
    base["manifest_etag"] = manifest.etag
    shards = []
    for i in range(groups):
        first, end = i * files // groups, (i + 1) * files // groups
        shards.append((CHILD_TASK, {**base, "first_file": first, "end_file": end}))
    return shards
