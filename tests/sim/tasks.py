"""What the simulated jobs do: a cheap synthetic task, and an s3-walk action with a cost.

Both route every unit of work through `work()`, a yield point that spends virtual time, may
raise an injected task error, and records the side effect (the item was processed) in the
simulation's world, where the invariant checks read it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from baton.handler.actions import ActionContext, ObjectRef
from baton.handler.tasks.framework.base import JobFailure, StepContext, Task
from baton.handler.tasks.framework.registry import TASKS, register
from baton.store.errors import InvalidJob
from tests.sim import core

SIM_TASK = "sim-count"
MAX_ITEMS = 100_000


def value(i: int) -> int:
    """What item i adds to the `sum` counter: exact counters must add up to these."""
    return (i * 7_919) % 1_000 + 1


def record(i: int, size: int) -> str:
    """About `size` bytes of hard-to-compress text for item i (a key, an ETag, a digest)."""
    parts = (hashlib.sha256(f"{i}:{j}".encode()).hexdigest() for j in range(size // 64 + 1))
    return "".join(parts)[:size]


def item_order(item: Any) -> Any:
    """Items in the order the task visits them: ints as numbers, keys as UTF-8 bytes."""
    return item.encode() if isinstance(item, str) else item


def work(item: Any) -> None:
    sim = core.ACTIVE
    actor = core.current_actor()
    if sim is None or actor is None or actor.sim is not sim:
        return
    slow = sim.fault(sim.rates.slow_step, "slow_step")
    low, high = sim.slow_step_ms if slow else sim.step_ms
    if slow:
        actor.slow_steps += 1  # what the hop's budget carries on (I8 counts hops from here)
    sim.now += sim.chooser.between(low, high)
    directive = sim.park("step")
    if directive == "task_transient":
        raise ConnectionError(f"injected transient error on item {item!r}")
    if directive == "task_permanent":
        raise JobFailure(f"injected permanent error on item {item!r}")
    sim.record(actor, item, lambda a, b: bool(item_order(a) < item_order(b)))


class SimCount(Task):
    """Items 0..items-1; the cursor is `next`, the counters `items` and `sum`."""

    name = SIM_TASK
    progress_counter = "items"

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        unknown = sorted(set(params) - {"items", "grow"})
        if unknown:
            raise InvalidJob(f"{SIM_TASK} does not take {', '.join(unknown)}; it takes items")
        items = params.get("items")
        if isinstance(items, bool) or not isinstance(items, int) or not 1 <= items <= MAX_ITEMS:
            raise InvalidJob(
                f"{SIM_TASK} items must be a whole number 1..{MAX_ITEMS}, got {items!r}"
            )
        grow = params.get("grow", 0)
        if isinstance(grow, bool) or not isinstance(grow, int) or not 0 <= grow <= 4_096:
            raise InvalidJob(f"{SIM_TASK} grow must be a whole number 0..4096, got {grow!r}")
        return {"items": items, "grow": grow} if grow else {"items": items}

    def start(self) -> dict[str, Any]:
        return {"next": 0}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        i = int(state["next"])
        work(i)
        ctx.count("items")
        ctx.count("sum", value(i))
        state["next"] = i + 1
        grow = int(self.params.get("grow", 0))
        if grow:
            # A state that grows with the work (an inventory, a set of seen keys).
            state.setdefault("seen", []).append(record(i, grow))
        return bool(state["next"] >= self.params["items"])


def ensure_registered() -> None:
    if TASKS.get(SIM_TASK) is not SimCount:
        register(SimCount)


def slow_record(obj: ObjectRef, ctx: ActionContext) -> None:
    """The s3-walk action under simulation: BATON_ACTION_MODULES=tests.sim.tasks."""
    work(obj.key)


ensure_registered()
