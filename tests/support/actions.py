"""Custom actions for tests, allowed through BATON_ACTION_MODULES=tests.support.actions.

They keep a record in module state on purpose: the tests read it to see what ran.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from baton.handler.actions import ActionContext, ObjectRef

seen: Counter[str] = Counter()
fail_once: set[str] = set()
fail_always: set[str] = set()
hooks: dict[str, Callable[[], None]] = {}
# Called for every object (e.g. to advance a test's clock by the object's cost).
on_each: list[Callable[[], None]] = []
# Keys in the order their processing finished.
order: list[str] = []
# `gated` blocks on a key's Event until the test sets it; `finished` is notified per object.
gates: dict[str, threading.Event] = {}
finished = threading.Condition()
GATE_TIMEOUT_S = 60


def reset() -> None:
    for gate in gates.values():
        gate.set()  # never leave a worker blocked behind a test that ended
    gates.clear()
    seen.clear()
    fail_once.clear()
    fail_always.clear()
    hooks.clear()
    on_each.clear()
    order.clear()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Block until `condition` holds (checked whenever an object finishes), or fail."""
    with finished:
        if not finished.wait_for(condition, timeout=timeout_s):
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def visit(obj: ObjectRef, ctx: ActionContext) -> None:
    """Nothing per object, one object per step: the in-process stacks' default action.

    `count` takes a whole listed page per step, so on a virtual clock that moves per read its
    walk would take a hop or two; the protocol tests need walks of many hops whose time grows
    with the objects, which a called action gives. The counters are the walk's own, as count's.
    """


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
    for each in on_each:
        each()
    with finished:
        seen[obj.key] += 1
        order.append(obj.key)
        finished.notify_all()
    ctx.count("recorded", 1)


def gated(obj: ObjectRef, ctx: ActionContext) -> None:
    """`record`, after waiting for the key's gate (if the test set one), and keeping the keys
    and their bytes in `ctx.state`, so a test sees the action state as well as the counters."""
    gate = gates.get(obj.key)
    if gate is not None and not gate.wait(GATE_TIMEOUT_S):
        raise TimeoutError(f"the test never opened the gate of {obj.key}")
    if obj.key in fail_always:
        with finished:
            order.append(obj.key)
            finished.notify_all()
        raise ValueError(f"cannot process {obj.key}")
    ctx.state.setdefault("keys", []).append(obj.key)
    ctx.state["bytes"] = ctx.state.get("bytes", 0) + obj.size
    with finished:
        seen[obj.key] += 1
        order.append(obj.key)
        finished.notify_all()
    ctx.count("recorded", 1)


def half_done(obj: ObjectRef, ctx: ActionContext) -> None:
    """Counts the object and records it in `ctx.state`, and only then fails on the keys in
    `fail_always`: what an object that raised leaves behind must not depend on concurrency."""
    ctx.count("touched", 1)
    ctx.state.setdefault("touched", []).append(obj.key)
    if obj.key in fail_always:
        raise ValueError(f"cannot finish {obj.key}")
