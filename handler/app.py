"""The Lambda entry point: `handler.app.lambda_handler`."""

from __future__ import annotations

from typing import Any

from handler.event import InvalidEvent, parse_relay_event
from handler.observability import count, logger, metrics
from handler.relay import LambdaContext, Relay
from handler.runtime import get_runtime


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Run one hop of the job the event names; a malformed event is dropped, never retried."""
    try:
        relay_event = parse_relay_event(event)
    except InvalidEvent as exc:
        count("RejectedEvents")
        logger.warning("event rejected", extra={"reason": str(exc)})
        return {"outcome": "rejected", "detail": str(exc)}
    logger.append_keys(job_id=relay_event.job_id, epoch=relay_event.epoch)
    return Relay(get_runtime(), relay_event, context).run()
