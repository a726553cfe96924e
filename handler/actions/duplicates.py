"""`duplicates`: objects with identical content, found by size and ETag over the whole bucket.

S3's ETag is the MD5 of the content for a single-part upload, and the MD5 of the parts' MD5s
with a "-N" suffix for a multipart upload. Equal size and equal ETag therefore mean equal bytes
(an MD5 collision aside) in both cases, and a multipart ETag is compared only with ETags of the
same part layout (the same string, count included). The same bytes uploaded with a different
part size, or once single-part and once multipart, get different ETags and are not matched:
finding those needs a read of every candidate, which this action does not do.

The state keeps every (size, ETag) seen, so it grows with the bucket; past the inline budget it
is spilled to the state bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from baton.handler.actions.action import ActionContext, ObjectAction, ObjectRef
from baton.handler.parameters import TaskParams

KEYS_KEPT_PER_GROUP = 1_000
SUMMARY_GROUPS = 10


def group_key(size: int, etag: str) -> str:
    return f"{size}:{etag}"


class DuplicatesParams(TaskParams):
    min_size: int = Field(1, ge=0, le=5 * 1024**4, description="Smaller objects are skipped")


class DuplicatesAction(ObjectAction):
    name = "duplicates"
    Params = DuplicatesParams

    def process(self, obj: ObjectRef, ctx: ActionContext) -> None:
        if obj.size < self.params.get("min_size", 1) or not obj.etag:
            ctx.count("duplicates_skipped", 1)
            return
        seen: dict[str, list[str]] = ctx.state.setdefault("seen", {})
        keys = seen.setdefault(group_key(obj.size, obj.etag), [])
        if len(keys) < KEYS_KEPT_PER_GROUP:
            keys.append(obj.key)
        else:
            extra: dict[str, int] = ctx.state.setdefault("extra", {})
            extra[group_key(obj.size, obj.etag)] = extra.get(group_key(obj.size, obj.etag), 0) + 1

    def groups(self, state: Mapping[str, Any]) -> list[dict[str, Any]]:
        extra: Mapping[str, int] = state.get("extra", {})
        found = []
        for gkey, keys in state.get("seen", {}).items():
            copies = len(keys) + extra.get(gkey, 0)
            if copies < 2:
                continue
            size_text, etag = gkey.split(":", 1)
            size = int(size_text)
            found.append(
                {
                    "size": size,
                    "etag": etag,
                    "multipart": "-" in etag,
                    "copies": copies,
                    "keys": sorted(keys),
                    "saved_bytes": size * (copies - 1),
                }
            )
        return sorted(found, key=lambda g: (-g["saved_bytes"], g["etag"]))

    def summary(self, state: Mapping[str, Any]) -> dict[str, Any]:
        groups = self.groups(state)
        return {
            "groups": len(groups),
            "extra_copies": sum(g["copies"] - 1 for g in groups),
            "saved_bytes": sum(g["saved_bytes"] for g in groups),
            "top_groups": [{**g, "keys": g["keys"][:5]} for g in groups[:SUMMARY_GROUPS]],
        }

    def report(self, state: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        for group in self.groups(state):
            yield {"type": "duplicate_group", **group}
