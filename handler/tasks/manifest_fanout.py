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

from baton.handler.api import Resources
from baton.handler.tasks.inventory_files import read_manifest
from baton.handler.tasks.manifest_walk import ManifestWalk

SPLIT = "manifest"
CHILD_TASK = ManifestWalk.name
CHILD_PARAMS = ("manifest", "action", "action_params", "on_error", "max_failed")


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
