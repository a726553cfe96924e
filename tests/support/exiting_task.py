"""A user task whose step exits the interpreter (BATON_TASK_MODULES lists this module in tests).

`EXITS` chooses what its step raises at `at`; the tests set it before they start the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.handler.api import StepContext, Task, register_task, whole_number

EXITS: dict[str, BaseException] = {"exc": SystemExit(2)}
# Set to make the task's summary (written when the job ends) exit too.
SUMMARY_EXITS: list[BaseException] = []


@register_task
class ExitingTicker(Task):
    name = "exiting-ticker"
    progress_counter = "ticks"

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        return {
            "n": whole_number(params, "n", 10, 1, 1_000, "exiting-ticker "),
            "at": whole_number(params, "at", 5, 0, 1_000, "exiting-ticker "),
        }

    def start(self) -> dict[str, Any]:
        return {"i": 0}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if state["i"] == self.params["at"]:
            raise EXITS["exc"]
        state["i"] += 1
        ctx.count("ticks")
        return bool(state["i"] >= self.params["n"])

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        if SUMMARY_EXITS:
            raise SUMMARY_EXITS[0]
        return {"i": state["i"]}
