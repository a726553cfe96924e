"""Built-in actions. The walk itself counts `objects` and `bytes` for every action."""

from __future__ import annotations

from handler.actions.base import ActionContext, ObjectRef


def count(obj: ObjectRef, ctx: ActionContext) -> None:
    """Only count: the walk's own `objects` and `bytes` counters are the result."""
    return None
