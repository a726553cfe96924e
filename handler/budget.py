"""The time budget: when a hop must stop working and hand off.

The margin is the larger of a configured floor and what this job has measured (the slowest
recent step, a commit and an invoke) times a safety factor. Time is read only through the Lambda
context's remaining milliseconds, so the budget works the same under a virtual clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

SAFETY_FACTOR = 2.0
STEP_WINDOW = 32


class TimeBudget:
    def __init__(
        self,
        remaining_ms: Callable[[], int],
        min_margin_ms: int,
        learned: Mapping[str, int] | None = None,
    ) -> None:
        self.remaining_ms = remaining_ms
        self.min_margin_ms = min_margin_ms
        learned = learned or {}
        self._steps: deque[int] = deque(maxlen=STEP_WINDOW)
        if learned.get("step_ms"):
            self._steps.append(int(learned["step_ms"]))
        self._writes: deque[int] = deque([int(learned.get("write_ms", 0))], maxlen=8)
        self._invoke_ms = int(learned.get("invoke_ms", 0))
        self._slowest = max(self._steps, default=0)

    def observe_step(self, ms: int) -> None:
        ms = max(0, ms)
        full = len(self._steps) == self._steps.maxlen
        evicted = self._steps[0] if full else None
        self._steps.append(ms)
        if ms >= self._slowest:
            self._slowest = ms
        elif evicted is not None and evicted >= self._slowest:
            self._slowest = max(self._steps)  # the slowest step just aged out of the window

    def observe_write(self, ms: int) -> None:
        self._writes.append(max(0, ms))

    def observe_invoke(self, ms: int) -> None:
        self._invoke_ms = max(0, ms)

    def margin_ms(self) -> int:
        measured = SAFETY_FACTOR * (self._slowest + max(self._writes) + self._invoke_ms)
        return max(self.min_margin_ms, int(measured))

    def work_window_ms(self) -> int:
        """Milliseconds of work left before the relay yields (may be negative)."""
        return self.remaining_ms() - self.margin_ms()

    def should_yield(self) -> bool:
        return self.work_window_ms() <= 0

    def should_yield_at(self, remaining_ms: int) -> bool:
        """As should_yield, for a remaining time the caller has just read."""
        return remaining_ms <= self.margin_ms()

    def learned(self) -> dict[str, int]:
        """What the next hop starts from, stored on the job item at hand-off."""
        return {
            "step_ms": self._slowest,
            "write_ms": max(self._writes),
            "invoke_ms": self._invoke_ms,
            "margin_ms": self.margin_ms(),
        }
