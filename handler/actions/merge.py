"""Merging what a custom action left in its per-object `ctx.state` into the job's action state.

At concurrency above 1 every in-flight object gets an empty `ctx.state` of its own; the walk
merges it into the committed action state once the object is below the watermark, in key order,
so the state covers exactly the objects the cursor covers. The rule is JSON-shaped: numbers
add, lists extend, objects merge key by key, anything else replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_state(into: dict[str, Any], delta: Mapping[str, Any]) -> None:
    for key, value in delta.items():
        current = into.get(key)
        if _number(current) and _number(value):
            into[key] = current + value
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        elif isinstance(current, dict) and isinstance(value, Mapping):
            merge_state(current, value)
        else:
            into[key] = value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
