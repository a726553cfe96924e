"""A user's task for baton: count the primes below `limit`, a chunk of numbers per step."""

from typing import Any

from pydantic import Field

from baton.handler.api import StepContext, Task, TaskParams, register_task


class PrimesParams(TaskParams):
    """Declared once: validation, defaults, limits, messages, and `baton start count-primes
    --help` all come from here."""

    limit: int = Field(1_000_000, ge=2, le=10**12, description="Count the primes below this")
    chunk: int = Field(500, ge=1, le=100_000, description="Numbers tested per step")


@register_task
class CountPrimes(Task):
    name = "count-primes"
    progress_counter = "numbers"  # `baton status` shows rate and ETA in numbers
    Params = PrimesParams

    @classmethod
    def expected_total(cls, params: Any) -> int:
        return int(params["limit"])

    def start(self) -> dict[str, Any]:
        return {"next": 0, "largest": None}  # JSON, small: a cursor and an aggregate

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        stop = min(state["next"] + self.params["chunk"], self.params["limit"])
        for n in range(state["next"], stop):
            if n > 1 and all(n % d for d in range(2, int(n**0.5) + 1)):
                ctx.count("primes")
                state["largest"] = n
        ctx.count("numbers", stop - state["next"])
        state["next"] = stop
        return stop >= self.params["limit"]  # True: the job is done

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"largest_prime": state["largest"]}
