"""A worker that cannot run (a bad `BATON_*` variable) records why on the job it was sent for.

Without this, every invocation would die before its claim: the error only in the function's log,
the job shown QUEUED "waiting for hand-off" with nothing on it. Instead the worker takes the
job's lease under the protocol's own claim (the event names the job and the epoch; a stale,
held or ended job is left alone), counts a failed attempt with the error, and raises so
Lambda's retry tries again; after `max_attempts` the job is FAILED with the cause, and
`baton status` shows it. Only the jobs table's settings are needed for that: when even they are
wrong (or DynamoDB cannot be reached), nothing can be recorded and the error is raised alone.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any

import boto3

from baton.handler.endings import final_error
from baton.handler.event import RelayEvent
from baton.handler.observability import count, logger
from baton.handler.parent_wake import event_sender, wake_parked_parent
from baton.handler.relay import LambdaContext, Outcome, self_function
from baton.handler.runtime import INVOKE_CONFIG
from baton.store.config import StoreSettings
from baton.store.constants import DEFAULT_TABLE
from baton.store.job_store import JobStore
from baton.store.records import ClaimRejected, HopEnd, Job

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


def unrunnable_error(exc: Exception) -> str:
    """What the job's `last_error` says about a worker that cannot start."""
    return (
        f"the worker cannot run: {type(exc).__name__}: {exc} (the function's configuration: "
        f"fix its BATON_* variables, or the flags given to `baton up`)"
    )


# One store per table name, made once per process like the runtime's (at init when it can be):
# it holds clients only, nothing of a job.
_stores: dict[str, JobStore] = {}


def recording_store() -> JobStore:
    """A store for the jobs table alone: of the store's settings only the table's name must be
    right (the others, perhaps what is wrong, are left at their defaults: no state is written).
    Raises ConfigError when the name itself is wrong."""
    table = os.environ.get("BATON_TABLE") or DEFAULT_TABLE
    store = _stores.get(table)
    if store is None:
        store = _stores[table] = JobStore.from_settings(
            StoreSettings.from_env({"BATON_TABLE": table})
        )
    return store


_lambda: list[LambdaClient] = []


def recording_lambda() -> LambdaClient:
    """A Lambda client to wake a parked parent with (made once per process, from the region
    Lambda sets: the worker's own settings may be what is wrong)."""
    if not _lambda:
        _lambda.append(boto3.client("lambda", config=INVOKE_CONFIG))
    return _lambda[0]


def _wake_parent(store: JobStore, ended: Job, context: LambdaContext) -> None:
    """A shard that failed for good here wakes its parked parent, as any ending shard does (the
    parent's hop may meet the same broken configuration: it then records it on the parent)."""
    try:
        send = event_sender(recording_lambda(), self_function(context))
    except Exception:
        logger.exception("no Lambda client to wake the parked parent with; the watchdog will")
        return
    wake_parked_parent(store, ended, send)


def record_unrunnable(
    event: RelayEvent, context: LambdaContext, cause: Exception
) -> dict[str, Any]:
    """Count a failed attempt with `cause` on the job the event names, then raise `cause` (so
    Lambda retries), or return once the job is FAILED. Raises `cause` when nothing could be
    recorded."""
    logger.error("the worker cannot run", extra={"error": f"{type(cause).__name__}: {cause}"})
    try:
        store = recording_store()
        owner = f"{context.aws_request_id}/{secrets.token_hex(3)}"
        deadline = store.clock.now_ms() + context.get_remaining_time_in_millis()
        claimed = store.claim(event.job_id, event.epoch, owner, deadline)
    except Exception:
        logger.exception("the error could not be recorded on the job")
        raise cause from None
    if isinstance(claimed, ClaimRejected):
        count("DiscardedEvents")
        logger.info("event discarded", extra={"reason": claimed.reason.value})
        return Outcome("discarded", event.job_id, event.epoch, claimed.reason.value).to_dict()
    error = unrunnable_error(cause)
    if claimed.will_fail_on_error():
        error = final_error(claimed.job, error)
    try:
        result = claimed.record_failure(error, HopEnd(0, "error"))
    except Exception:
        logger.exception("the error could not be recorded on the job")
        raise cause from None
    count("TaskErrors")
    if result.will_retry:
        raise cause
    _wake_parent(store, result.job, context)
    count("JobsFailed")
    return Outcome("failed", event.job_id, event.epoch, result.job.last_error or error).to_dict()
