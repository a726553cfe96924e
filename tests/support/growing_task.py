"""A synthetic task whose state grows without bound, to push the state codec past its limits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from baton.handler.actions.params import whole_number
from baton.handler.tasks.framework.base import StepContext, Task
from baton.handler.tasks.framework.registry import register
from baton.store.errors import InvalidJob


def chunk(seed: str, index: int, size: int) -> str:
    """Deterministic, incompressible-ish text: a SHA-256 chain in hex."""
    out = []
    block = hashlib.sha256(f"{seed}/{index}".encode()).hexdigest()
    while len(out) * 64 < size:
        out.append(block)
        block = hashlib.sha256(block.encode()).hexdigest()
    return "".join(out)[:size]


def expected_state(seed: str, steps: int, size: int) -> dict[str, Any]:
    return {"chunks": [chunk(seed, i, size) for i in range(steps)], "next": steps}


@register
class GrowTask(Task):
    """Appends one chunk per step until `steps` chunks exist."""

    name = "grow"
    progress_counter = "chunks"

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        # Validated like any task's, so fuzzing every registered task meets a clear refusal.
        if set(params) != {"seed", "steps", "size"}:
            raise InvalidJob(f"grow takes seed, steps and size, got {sorted(params)}")
        return {
            "seed": str(params["seed"]),
            "steps": whole_number(params, "steps", 0, 0, 10**6, "grow "),
            "size": whole_number(params, "size", 0, 0, 10**8, "grow "),
        }

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        return int(params["steps"])

    def start(self) -> dict[str, Any]:
        return {"chunks": [], "next": 0}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        index = state["next"]
        state["chunks"].append(chunk(self.params["seed"], index, self.params["size"]))
        state["next"] = index + 1
        ctx.count("chunks")
        return state["next"] >= self.params["steps"]
