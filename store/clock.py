"""Wall-clock time in milliseconds, injectable so simulations can run on a virtual clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Milliseconds since the Unix epoch. Leases and timestamps are computed from it."""

    def now_ms(self) -> int: ...


def now_ms() -> int:
    """The real wall clock in milliseconds: the one definition every real clock reads."""
    return time.time_ns() // 1_000_000


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        return now_ms()


def iso_from_ms(ms: int) -> str:
    """A sortable, human-readable UTC timestamp: 2026-11-26T18:18:19.123Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(text: str) -> int:
    """Inverse of iso_from_ms."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000 + 0.5)
