"""Custom actions for tests, allowed through BATON_ACTION_MODULES=tests.support.actions.

They keep a record in module state on purpose: the tests read it to see what ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from handler.actions import ActionContext, ObjectRef

seen: Counter[str] = Counter()
fail_once: set[str] = set()
fail_always: set[str] = set()
hooks: dict[str, Callable[[], None]] = {}


def reset() -> None:
    seen.clear()
    fail_once.clear()
    fail_always.clear()
    hooks.clear()


def record(obj: ObjectRef, ctx: ActionContext) -> None:
    """Remember every key processed, to show at-least-once processing after crashes."""
    if obj.key in fail_always:
        raise ValueError(f"cannot process {obj.key}")
    if obj.key in fail_once:
        fail_once.discard(obj.key)
        raise ConnectionError(f"transient failure on {obj.key}")
    hook = hooks.pop(obj.key, None)
    if hook is not None:
        hook()
    seen[obj.key] += 1
    ctx.count("recorded", 1)
