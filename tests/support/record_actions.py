"""Record actions for the s3-lines tests (BATON_ACTION_MODULES lists this module).

They keep what they saw in module state on purpose: the in-process tests read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from baton.handler.api import ActionContext

seen: Counter[tuple[str, int]] = Counter()
values: list[Any] = []
hooks: dict[int, Callable[[], None]] = {}


def reset() -> None:
    seen.clear()
    values.clear()
    hooks.clear()


def remember(record: Any, ctx: ActionContext) -> None:
    """Keep each record's value; a record whose value holds "fail" raises."""
    hook = hooks.pop(record.offset, None)
    if hook is not None:
        hook()
    if isinstance(record.value, dict) and record.value.get("fail"):
        raise ValueError(f"cannot process record {record.offset}")
    seen[(record.key, record.offset)] += 1
    values.append(record.value)
    ctx.count("remembered", 1)
