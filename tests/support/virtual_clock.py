"""A virtual clock where every reading costs a tick, so time always moves forward."""

from __future__ import annotations

from collections.abc import Callable


class VirtualClock:
    def __init__(self, start_ms: int = 1_800_000_000_000, tick_ms: int = 1) -> None:
        self._now = start_ms
        self.tick_ms = tick_ms
        # Called once when time passes `alarm_at_ms` (LambdaSim kills a hop at its deadline).
        self.alarm_at_ms: int | None = None
        self.alarm: Callable[[], None] | None = None

    def now_ms(self) -> int:
        self._now += self.tick_ms
        self._ring()
        return self._now

    def peek(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms
        self._ring()

    def _ring(self) -> None:
        if self.alarm is not None and self.alarm_at_ms is not None and self._now > self.alarm_at_ms:
            alarm, self.alarm = self.alarm, None
            alarm()

    def advance_to(self, ms: int) -> None:
        self._now = max(self._now, ms)
