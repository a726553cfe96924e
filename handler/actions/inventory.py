"""`inventory`: count and bytes per top-level prefix, storage class and extension, and the
largest objects. The aggregates live in the action's state, committed with the cursor, so they
are exact whatever crashed (objects after the last checkpoint are counted again from it)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from baton.handler.actions.action import ActionContext, ObjectAction, ObjectRef
from baton.handler.parameters import TaskParams

ROOT = "(root)"
NO_EXTENSION = "(none)"
MAX_EXTENSION = 12
SUMMARY_TOP = 10


def prefix_of(key: str, depth: int) -> str:
    """The first `depth` folders of the key ("a/b/" for "a/b/c.txt" at depth 2)."""
    parts = key.split("/")[:-1][:depth]
    return "/".join(parts) + "/" if parts else ROOT


def extension_of(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if "." not in name.strip("."):
        return NO_EXTENSION
    ext = name.rsplit(".", 1)[-1].lower()
    return ext if ext and len(ext) <= MAX_EXTENSION and ext.isalnum() else "(other)"


def _add(table: dict[str, list[int]], name: str, size: int) -> None:
    entry = table.setdefault(name, [0, 0])
    entry[0] += 1
    entry[1] += size


def _rows(table: Mapping[str, list[int]], label: str) -> list[dict[str, Any]]:
    rows = [{label: k, "objects": v[0], "bytes": v[1]} for k, v in table.items()]
    return sorted(rows, key=lambda r: (-r["bytes"], r[label]))


class InventoryParams(TaskParams):
    depth: int = Field(1, ge=0, le=20, description="Folders of a key that name its prefix")
    largest: int = Field(20, ge=0, le=1_000, description="Largest objects to list")


class InventoryAction(ObjectAction):
    name = "inventory"
    Params = InventoryParams

    def process(self, obj: ObjectRef, ctx: ActionContext) -> None:
        state = ctx.state
        _add(
            state.setdefault("prefixes", {}),
            prefix_of(obj.key, self.params.get("depth", 1)),
            obj.size,
        )
        _add(state.setdefault("classes", {}), obj.storage_class, obj.size)
        _add(state.setdefault("extensions", {}), extension_of(obj.key), obj.size)
        keep = self.params.get("largest", 20)
        if keep:
            largest: list[list[Any]] = state.setdefault("largest", [])
            largest.append([obj.size, obj.key])
            if len(largest) > keep:
                top = heapq.nlargest(keep, largest, key=lambda e: (e[0], e[1]))
                largest[:] = top

    def _largest(self, state: Mapping[str, Any]) -> list[dict[str, Any]]:
        entries = sorted(state.get("largest", []), key=lambda e: (-e[0], e[1]))
        return [{"key": key, "bytes": size} for size, key in entries]

    def summary(self, state: Mapping[str, Any]) -> dict[str, Any]:
        prefixes = _rows(state.get("prefixes", {}), "prefix")
        return {
            "prefixes": len(prefixes),
            "top_prefixes": prefixes[:SUMMARY_TOP],
            "storage_classes": _rows(state.get("classes", {}), "storage_class"),
            "top_extensions": _rows(state.get("extensions", {}), "extension")[:SUMMARY_TOP],
            "largest": self._largest(state)[:5],
        }

    def report(self, state: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        for row in _rows(state.get("prefixes", {}), "prefix"):
            yield {"type": "prefix", **row}
        for row in _rows(state.get("classes", {}), "storage_class"):
            yield {"type": "storage_class", **row}
        for row in _rows(state.get("extensions", {}), "extension"):
            yield {"type": "extension", **row}
        for row in self._largest(state):
            yield {"type": "largest", **row}
