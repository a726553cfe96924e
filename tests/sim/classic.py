"""The classic recipe, run through the same simulator and faults as baton.

The well-known pattern for Lambda jobs longer than 15 minutes: carry the state in the event,
check `context.get_remaining_time_in_millis()` against a fixed 10-second margin before each
unit of work, and re-invoke the function asynchronously with the state in the payload. No
store: whatever the event carries is the job.

The handler below is that recipe, written the way tutorials write it; it does the same units of
work as the synthetic task (`tasks.work`, the same yield point with the same costs and faults)
and passes the same named fault points. What it cannot have are operators, a watchdog or a
resume: there is nothing to resume from.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from handler import faults
from tests.sim import core
from tests.sim.chooser import Chooser
from tests.sim.core import Rates, Sim
from tests.sim.tasks import record, value, work

MARGIN_MS = 10_000


@dataclass
class ClassicWorld:
    """What the classic chains left behind: results reported and hand-offs made per event."""

    results: list[dict[str, Any]] = field(default_factory=list)
    children: Counter[str] = field(default_factory=Counter)
    furthest: int = 0
    too_large: int = 0
    first_too_large_at: int = 0


def make_handler(lambda_client: Any, world: ClassicWorld) -> Any:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sim = core.ACTIVE
        assert sim is not None
        n, grow = event["n"], event.get("grow", 0)
        state = event.get("state") or {"next": 0, "items": 0, "sum": 0, "seen": []}
        link = event.get("link", "0")
        while state["next"] < n:
            if context.get_remaining_time_in_millis() < MARGIN_MS:
                payload = {"n": n, "grow": grow, "state": state, "link": f"{link}.{state['next']}"}
                sim.park("fault", faults.DURING_INVOKE)
                try:
                    lambda_client.invoke(
                        FunctionName=context.function_name,
                        InvocationType="Event",
                        Payload=json.dumps(payload),
                    )
                except Exception as exc:
                    if "RequestEntityTooLarge" in str(exc):
                        world.too_large += 1
                        world.first_too_large_at = world.first_too_large_at or state["next"]
                    raise
                world.children[link] += 1
                return {"outcome": "handed_off"}
            i = state["next"]
            work(i)
            state["next"] = i + 1
            state["items"] += 1
            state["sum"] += value(i)
            if grow:
                state["seen"].append(record(i, grow))
            world.furthest = max(world.furthest, state["next"])
            sim.park("fault", faults.MID_STEP)
        world.results.append({"items": state["items"], "sum": state["sum"]})
        sim.park("fault", faults.AFTER_FINISH)
        return {"outcome": "finished"}

    return handler


@dataclass
class ClassicReport:
    items: int
    finished: int
    forks: int
    extra_work: int
    lost: bool
    furthest: int
    too_large: int
    too_large_at: int
    exact: bool
    stats: dict[str, int]


def run_classic(
    env: Any,
    chooser: Chooser,
    *,
    items: int,
    grow: int,
    rates: Rates,
    timeout_ms: int,
    fault_window_ms: int,
    step_ms: tuple[int, int],
    slow_step_ms: tuple[int, int],
    payload_limit: int,
) -> ClassicReport:
    world = ClassicWorld()
    handler = make_handler(env.lambda_client, world)
    sim = Sim(chooser, rates, timeout_ms=timeout_ms, handler=handler, payload_limit=payload_limit)
    sim.faults_until = sim.start_ms + fault_window_ms
    sim.step_ms, sim.slow_step_ms = step_ms, slow_step_ms
    core.ACTIVE = sim
    try:
        sim.at(sim.now, "start", lambda: sim.accept({"n": items, "grow": grow}))
        sim.run(max_steps=200_000)
    finally:
        sim.abort()
        core.ACTIVE = None
    expected = {"items": items, "sum": sum(value(i) for i in range(items))}
    forks = sum(max(0, c - 1) for c in world.children.values()) + max(0, len(world.results) - 1)
    return ClassicReport(
        items=items,
        finished=len(world.results),
        forks=forks,
        extra_work=sum(sim.processed.values()) - len(sim.processed),
        lost=not world.results,
        furthest=world.furthest,
        too_large=world.too_large,
        too_large_at=world.first_too_large_at,
        exact=bool(world.results) and all(r == expected for r in world.results),
        stats=dict(sim.stats),
    )
