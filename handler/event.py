"""The relay event: exactly {"job_id": str, "epoch": int}, validated strictly."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from baton.store.constants import JOB_ID_PATTERN

MAX_EPOCH = 2**53


class InvalidEvent(ValueError):
    """The event is not a relay event; it is logged and dropped, never retried."""


class RelayEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    job_id: Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN.pattern)]
    epoch: Annotated[int, Field(ge=1, le=MAX_EPOCH)]

    def payload(self) -> dict[str, Any]:
        """The event as sent to Lambda: every sender builds it here, so none can add a field."""
        return {"job_id": self.job_id, "epoch": self.epoch}


def parse_relay_event(event: Any) -> RelayEvent:
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(event).__name__}")
    try:
        return parse(event=event, model=RelayEvent)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidEvent(f"not a relay event ({problems})") from None
