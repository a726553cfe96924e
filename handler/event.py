"""The relay event: exactly {"job_id": str, "epoch": int}, validated strictly.

Two fields are checked by hand: a validation library would cost the worker's cold start more
than it saves (pydantic and Powertools' parser took about a third of a second to import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.store.constants import JOB_ID_PATTERN, MAX_JOB_ID_LENGTH

MAX_EPOCH = 2**53
FIELDS = ("job_id", "epoch")


class InvalidEvent(ValueError):
    """The event is not a relay event; it is logged and dropped, never retried."""


@dataclass(frozen=True)
class RelayEvent:
    job_id: str
    epoch: int

    def __post_init__(self) -> None:
        problems = _problems(self.job_id, self.epoch)
        if problems:
            raise InvalidEvent(f"not a relay event ({'; '.join(problems)})")

    def payload(self) -> dict[str, Any]:
        """The event as sent to Lambda: every sender builds it here, so none can add a field."""
        return {"job_id": self.job_id, "epoch": self.epoch}


def _problems(job_id: Any, epoch: Any) -> list[str]:
    problems = []
    if not isinstance(job_id, str):
        problems.append(f"job_id: must be a string, got {type(job_id).__name__}")
    elif not JOB_ID_PATTERN.fullmatch(job_id):  # `$` alone would let a final newline in
        problems.append(
            f"job_id: must be 1 to {MAX_JOB_ID_LENGTH} of A-Z a-z 0-9 . _ - (got {job_id[:140]!r})"
        )
    # bool is an int in Python, and 1.0 is not an epoch: the type must be exactly int.
    if type(epoch) is not int:
        problems.append(f"epoch: must be an integer, got {type(epoch).__name__}")
    elif not 1 <= epoch <= MAX_EPOCH:
        problems.append(f"epoch: must be between 1 and {MAX_EPOCH}, got {epoch}")
    return problems


def parse_relay_event(event: Any) -> RelayEvent:
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(event).__name__}")
    problems = [f"{name}: field required" for name in FIELDS if name not in event]
    problems += [f"{name}: extra field not permitted" for name in event if name not in FIELDS]
    if not problems:
        problems = _problems(event["job_id"], event["epoch"])
    if problems:
        raise InvalidEvent(f"not a relay event ({'; '.join(str(p) for p in problems)})")
    return RelayEvent(job_id=event["job_id"], epoch=event["epoch"])
