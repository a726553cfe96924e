"""The classic recipe, run through the same simulator and faults as baton.

The well-known pattern for Lambda jobs longer than 15 minutes: carry the state in the event,
check `context.get_remaining_time_in_millis()` against a fixed 10-second margin before each
unit of work, and re-invoke the function asynchronously with the state in the payload. No
store: whatever the event carries is the job.

The handler below is that recipe, written the way tutorials write it; it does the same units of
work as the synthetic task (`tasks.work`, the same yield point with the same costs and faults)
and passes the same named fault points. What it cannot have are operators, a watchdog or a
resume: there is nothing to resume from.

`make_strong_handler` is the recipe at its strongest, as a competent engineer writes it:
Powertools-style idempotency keyed on the hand-off (each event carries a `link` derived from its
parent's link and hop number, so a retried hop that hands off again sends the same key and the
second child is suppressed; an INPROGRESS record expires at the invocation's deadline, as
Powertools sets it from the Lambda context), the state in S3 behind a pointer (the event stays
small), and an on-failure destination whose events an operator redrives. Its idempotency table
and S3 calls are not fault-injected: a favour to the recipe.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from baton.handler import faults
from tests.sim import core
from tests.sim.chooser import Chooser
from tests.sim.core import Rates, Sim
from tests.sim.tasks import record, value, work

MARGIN_MS = 10_000
REDRIVE_AFTER_MS = 15 * 60_000  # an alarm on the destination, and an operator's redrive
MAX_REDRIVES = 3
IDEMPOTENCY_TTL_MS = 3_600_000  # Powertools' default expiry: one hour


@dataclass
class ClassicWorld:
    """What the classic chains left behind: results reported and hand-offs made per event."""

    results: list[dict[str, Any]] = field(default_factory=list)
    children: Counter[str] = field(default_factory=Counter)
    furthest: int = 0
    too_large: int = 0
    first_too_large_at: int = 0
    # the strong recipe's idempotency table (key -> record) and state bucket (key -> state)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressed: int = 0
    in_progress_refusals: int = 0
    redriven: int = 0


class AlreadyInProgress(Exception):
    """Powertools' IdempotencyAlreadyInProgressError: the invocation fails, Lambda retries."""


def _one_item(sim: Sim, world: ClassicWorld, state: dict[str, Any], grow: int) -> None:
    """One item of the recipe's loop: the work, the state that records it, a fault point."""
    i = state["next"]
    work(i)
    state["next"] = i + 1
    state["items"] += 1
    state["sum"] += value(i)
    if grow:
        state["seen"].append(record(i, grow))
    world.furthest = max(world.furthest, state["next"])
    sim.park("fault", faults.MID_STEP)


def _finished(sim: Sim, world: ClassicWorld, state: dict[str, Any]) -> dict[str, Any]:
    world.results.append({"items": state["items"], "sum": state["sum"]})
    sim.park("fault", faults.AFTER_FINISH)
    return {"outcome": "finished"}


def _hand_off(lambda_client: Any, context: Any, payload: dict[str, Any]) -> None:
    """The recipe's self-invoke: an async event to the same function."""
    lambda_client.invoke(
        FunctionName=context.function_name, InvocationType="Event", Payload=json.dumps(payload)
    )


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
                    _hand_off(lambda_client, context, payload)
                except Exception as exc:
                    if "RequestEntityTooLarge" in str(exc):
                        world.too_large += 1
                        world.first_too_large_at = world.first_too_large_at or state["next"]
                    raise
                world.children[link] += 1
                return {"outcome": "handed_off"}
            _one_item(sim, world, state, grow)
        return _finished(sim, world, state)

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
    redriven: int = 0
    suppressed: int = 0


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
    strong: bool = False,
) -> ClassicReport:
    world = ClassicWorld()
    handler = (make_strong_handler if strong else make_handler)(env.lambda_client, world)
    sim = Sim(chooser, rates, timeout_ms=timeout_ms, handler=handler, payload_limit=payload_limit)
    sim.faults_until = sim.start_ms + fault_window_ms
    sim.step_ms, sim.slow_step_ms = step_ms, slow_step_ms
    core.ACTIVE = sim
    try:
        sim.at(sim.now, "start", lambda: sim.accept({"n": items, "grow": grow}))
        on_quiet = (lambda: redrive(sim, world)) if strong else None
        sim.run(on_quiet=on_quiet, max_steps=200_000)
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
        redriven=world.redriven,
        suppressed=world.suppressed,
    )


def _claim_key(world: ClassicWorld, key: str, now: int, deadline: int) -> dict[str, Any] | None:
    """Powertools' `save_inprogress`: a conditional put; the existing record when refused."""
    record = world.idempotency.get(key)
    if record is not None and record["expiry"] > now:
        if record["status"] == "COMPLETED":
            return record
        if record["in_progress_expiry"] > now:
            raise AlreadyInProgress(key)
    world.idempotency[key] = {
        "status": "INPROGRESS",
        "expiry": now + IDEMPOTENCY_TTL_MS,
        "in_progress_expiry": deadline,
    }
    return None


def make_strong_handler(lambda_client: Any, world: ClassicWorld) -> Any:
    """The recipe at its strongest: idempotent hand-offs, state in S3, small events."""

    def hop(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sim = core.ACTIVE
        assert sim is not None
        n, grow = event["n"], event.get("grow", 0)
        link, hops = event.get("link", "0"), event.get("hops", 0)
        pointer = event.get("state")
        state = (
            json.loads(json.dumps(world.states[pointer]))
            if pointer
            else {"next": 0, "items": 0, "sum": 0, "seen": []}
        )
        while state["next"] < n:
            if context.get_remaining_time_in_millis() < MARGIN_MS:
                child = f"{link}.{hops + 1}"  # the same for every attempt of this hop
                key = f"state/{child}/{context.aws_request_id}"
                world.states[key] = json.loads(json.dumps(state))  # PutObject, then the event
                payload = {"n": n, "grow": grow, "link": child, "hops": hops + 1, "state": key}
                sim.park("fault", faults.DURING_INVOKE)
                _hand_off(lambda_client, context, payload)
                world.children[link] += 1
                return {"outcome": "handed_off"}
            _one_item(sim, world, state, grow)
        return _finished(sim, world, state)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sim = core.ACTIVE
        assert sim is not None
        key = event.get("link", "0")  # event_key_jmespath="link"
        deadline = sim.now + context.get_remaining_time_in_millis()
        try:
            done = _claim_key(world, key, sim.now, deadline)
        except AlreadyInProgress:
            world.in_progress_refusals += 1
            raise
        if done is not None:
            world.suppressed += 1
            return dict(done["result"])
        try:
            result = hop(event, context)
        except Exception:
            world.idempotency.pop(key, None)  # Powertools deletes the record on an error
            raise
        world.idempotency[key].update(status="COMPLETED", result=result)
        return result

    return handler


def redrive(sim: Sim, world: ClassicWorld) -> bool:
    """The operator's redrive of the on-failure destination, until the job is done."""
    if world.results or not sim.dead_letters or world.redriven >= MAX_REDRIVES:
        return False
    events, sim.dead_letters[:] = list(sim.dead_letters), []
    world.redriven += 1
    for event in events:
        sim.deliver_later(event, REDRIVE_AFTER_MS)
    return True
