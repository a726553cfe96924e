"""A synthetic task that counts per tenant: one counter name per tenant, as users write them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.handler.actions.params import whole_number
from baton.handler.tasks.framework.base import StepContext, Task
from baton.handler.tasks.framework.registry import register
from baton.store.errors import InvalidJob


@register
class TenantCounts(Task):
    """Counts `tenant:<n>` once for each of `tenants` tenants, `per_step` tenants a step."""

    name = "tenant-counts"
    progress_counter = "items"

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        if set(params) != {"tenants", "per_step"}:
            raise InvalidJob(f"tenant-counts takes tenants and per_step, got {sorted(params)}")
        return {
            "tenants": whole_number(params, "tenants", 0, 0, 10**6, "tenant-counts "),
            "per_step": whole_number(params, "per_step", 1, 1, 10**6, "tenant-counts "),
        }

    def start(self) -> dict[str, Any]:
        return {"next": 0}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        first = state["next"]
        last = min(first + self.params["per_step"], self.params["tenants"])
        for n in range(first, last):
            ctx.count(f"tenant:{n:06d}")
            ctx.count("items")
        state["next"] = last
        return last >= self.params["tenants"]
