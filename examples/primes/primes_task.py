"""A user's task for baton: count the primes below `limit`, a chunk of numbers per step."""

from typing import Any

from baton.handler.api import InvalidJob, StepContext, Task, register_task, whole_number


@register_task
class CountPrimes(Task):
    name = "count-primes"
    progress_counter = "numbers"  # `baton status` shows rate and ETA in numbers

    @classmethod
    def validate(cls, params: Any, action_modules: tuple[str, ...]) -> dict[str, Any]:
        limit = whole_number(params, "limit", 1_000_000, 2, 10**12, "count-primes ")
        chunk = whole_number(params, "chunk", 500, 1, 100_000, "count-primes ")
        if set(params) - {"limit", "chunk"}:
            raise InvalidJob("count-primes takes limit and chunk")
        return {"limit": limit, "chunk": chunk}

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
