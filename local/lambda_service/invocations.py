"""What the local Lambda service keeps of an event: waiting in its queue, run, or given up on."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(order=True)
class Pending:
    """An accepted async event waiting for its (next) delivery."""

    not_before_ms: int
    seq: int
    request_id: str = field(compare=False)
    event: Any = field(compare=False)
    received_ms: int = field(compare=False)
    attempt: int = field(default=0, compare=False)  # failed attempts so far
    duplicate: bool = field(default=False, compare=False)
    last_error: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DeadLetter:
    """What an on-failure destination receives, reduced to what a local user needs."""

    request_id: str
    event: Any
    reason: str
    attempts: int
    last_error: str | None
    at: str
    function_arn: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Invocation:
    """One run of the handler, as the service saw it."""

    request_id: str
    invocation_type: str
    event: Any
    attempt: int
    duplicate: bool
    ending: str
    payload: str
    duration_ms: int
    pid: int
    started_at_ms: int

    def result(self) -> Any:
        try:
            return json.loads(self.payload)
        except ValueError:
            return self.payload

    def error_line(self) -> str:
        """The handler's error as `Type: message` (what a retry's log and a dead letter show)."""
        try:
            payload = json.loads(self.payload)
            return f"{payload.get('errorType', '?')}: {payload.get('errorMessage', '')}"[:1000]
        except (ValueError, AttributeError):
            return self.payload[:1000]
