"""The Lambda entry point: `baton.handler.app.lambda_handler`."""

from __future__ import annotations

import os
from typing import Any

from baton.handler.event import InvalidEvent, parse_relay_event
from baton.handler.observability import count, logger, metrics
from baton.handler.relay import LambdaContext, Relay
from baton.handler.runtime import freeze_init_heap, get_runtime
from baton.handler.setup_failure import record_unrunnable, recording_store


def warm_at_init() -> None:
    """Inside Lambda, build the clients (and import the user's task modules) while the sandbox
    initialises, as AWS advises: the init phase has its own limit, so a cold start on a slow
    host does not eat into the hop's timeout (building three clients costs ~0.5 s on a quiet
    host, several seconds on a loaded one). A failure here is left to the first invocation,
    which raises it against the job that asked. Once built, the init's objects are frozen out
    of the collector's full collections (`freeze_init_heap`)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return  # imported by a test, the CLI or a benchmark: they install their own runtime
    try:
        get_runtime()
        freeze_init_heap()
    except Exception:
        logger.exception("building the runtime at init failed; the first invocation retries it")
        try:
            recording_store()  # to record the error on the job the first event names
        except Exception:
            logger.exception("the jobs table's settings are wrong too; nothing can be recorded")


warm_at_init()


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
    try:
        runtime = get_runtime()
    except Exception as exc:
        return record_unrunnable(relay_event, context, exc)
    return Relay(runtime, relay_event, context).run()
