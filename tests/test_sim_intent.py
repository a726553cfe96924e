"""I7, the simulator's operator-intent invariant, on hand-made item versions: a cancel or pause
dropped by anyone but the operator who resumes is a violation; honouring it is not."""

from __future__ import annotations

from typing import Any

from tests.sim.checks import CountModel, Ledger
from tests.sim.core import Actor


class StubSim:
    now = 0
    start_ms = 0

    def log(self, line: str) -> None:
        pass


def actor(kind: str) -> Actor:
    return Actor(sim=StubSim(), seq=1, kind=kind, label=f"{kind}#1", fn=lambda a: None)  # type: ignore[arg-type]


def ledger() -> Ledger:
    return Ledger(StubSim(), CountModel(3), "j")  # type: ignore[arg-type]


FLAGGED: dict[str, Any] = {"status": "RUNNING", "lease_owner": "o", "cancel_requested": True}


def test_a_watchdog_rearm_that_drops_a_cancel_violates_i7() -> None:
    checks = ledger()
    checks._check_intent(actor("watchdog"), FLAGGED, {"status": "QUEUED", "epoch": 2})
    assert [v.invariant for v in checks.violations] == ["I7"]
    assert "cancel_requested dropped by watchdog#1" in checks.violations[0].detail


def test_honouring_or_keeping_a_request_is_clean_and_a_resume_may_replace_a_pause() -> None:
    checks = ledger()
    checks._check_intent(actor("invocation"), FLAGGED, {"status": "CANCELLED"})
    checks._check_intent(actor("watchdog"), FLAGGED, {**FLAGGED, "status": "QUEUED"})
    paused = {"status": "RUNNING", "pause_requested": True}
    checks._check_intent(actor("operator"), paused, {"status": "QUEUED"})
    assert checks.violations == []
    checks._check_intent(actor("invocation"), paused, {"status": "QUEUED"})
    assert [v.invariant for v in checks.violations] == ["I7"]
