"""Named fault points in the relay: no-ops in production, where simulations inject crashes.

Keeping the points in the real code path (as FoundationDB's BUGGIFY does) means the simulator
crashes the exact code that runs on Lambda rather than a copy of it.
"""

from __future__ import annotations

from typing import Protocol

AFTER_CLAIM = "after_claim"
MID_STEP = "mid_step"
AFTER_CHECKPOINT = "after_checkpoint"
AFTER_HAND_OFF_WRITE = "after_hand_off_write"
DURING_INVOKE = "during_invoke"
AFTER_FINISH = "after_finish"

FAULT_POINTS = (
    AFTER_CLAIM,
    MID_STEP,
    AFTER_CHECKPOINT,
    AFTER_HAND_OFF_WRITE,
    DURING_INVOKE,
    AFTER_FINISH,
)


class SandboxGone(BaseException):
    """A simulation's stand-in for the sandbox dying (a timeout, out of memory, a kill).

    On Lambda such a death raises nothing: the process is gone. The relay lets this class through
    untouched, while any other `BaseException` a task or action raises (`SystemExit`,
    `KeyboardInterrupt`) is a failed attempt like any exception.
    """


class FaultPoints(Protocol):
    def hit(self, point: str) -> None: ...


class NoFaults:
    def hit(self, point: str) -> None:
        return None
