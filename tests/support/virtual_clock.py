"""A virtual clock where every reading costs a tick, so time always moves forward."""

from __future__ import annotations


class VirtualClock:
    def __init__(self, start_ms: int = 1_800_000_000_000, tick_ms: int = 1) -> None:
        self._now = start_ms
        self.tick_ms = tick_ms

    def now_ms(self) -> int:
        self._now += self.tick_ms
        return self._now

    def peek(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms

    def advance_to(self, ms: int) -> None:
        self._now = max(self._now, ms)
