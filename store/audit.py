"""The optional audit sink: one event per write that landed (tests prove I1/I2 with it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CommitEvent:
    """One committed write, reported to an optional audit sink (tests prove I1/I2 with it)."""

    op: str
    job_id: str
    epoch: int
    owner: str | None
    at_ms: int
    lease_expires_ms: int | None = None


AuditSink = Callable[[CommitEvent], None]
# Called with "state_written:<op>" after a spilled state reached S3 and before the item write;
# simulations crash there to prove such a crash loses nothing.
FaultHook = Callable[[str], None]
