"""Waking a parked fan-out parent when one of its shards stops.

A parent whose shards all run parks (`LeaseHolder.park`): committed, unheld, QUEUED at its next
epoch, and no event on its way. It runs again only when someone sends that event. Every path that
ends a shard, or pauses it, sends it here: the shard's own holder (finish, fail, stop, a failed
last attempt), the claim that finds a shard out of hops, an operator's cancel or pause by name
applied at once, the watchdog (a stall verdict, a request applied for a dead holder) and a worker
that cannot even build its task. Lambda's retry of a hop that stopped a shard wakes it too (the
hop may have died between its write and its wake-up), as does a hop that finds an ending write of
unknown outcome was its own. A wake-up is an event at the parent's current epoch: a
duplicate (two shards ending together, or a wake racing the watchdog's backstop) is discarded by
the claim, so waking twice costs one refused claim, never a second hop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from baton.handler.launch import send_event
from baton.handler.observability import count, logger
from baton.store.job_store import JobStore
from baton.store.records import Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# Sends a job's event at its current epoch; True once Lambda accepted it.
Sender = Callable[[Job], bool]


def event_sender(lambda_client: LambdaClient, function: str) -> Sender:
    """A sender for callers outside a hop (the CLI, the watchdog, a worker that cannot run):
    one invoke, its failure logged and answered False."""

    def send(job: Job) -> bool:
        try:
            send_event(lambda_client, function, job)
        except Exception:
            logger.exception("the parked parent's event could not be sent")
            return False
        return True

    return send


def wake_parked_parent(store: JobStore, stopped: Job, send: Sender) -> bool:
    """Send the parent's event when `stopped` is a shard whose parent waits parked; True when
    it was sent. A parent not parked needs none: it is running and reads its shards before it
    parks (the task's `woken`), or its event is on its way, or it ended. Best effort, never
    raising: the watchdog re-sends a parked parent's event when no wake-up came."""
    if not stopped.parent_id:
        return False
    try:
        parent = store.get(stopped.parent_id)
        if parent.status is not JobStatus.QUEUED or parent.waiting_for is None:
            return False
        sent = send(parent)
    except Exception:
        logger.exception("could not wake the parked parent; the watchdog will")
        sent = False
    count("ParentWoken" if sent else "ParentWakeFailed")
    if sent:
        logger.info(
            "woke the parked parent",
            extra={
                "parent": stopped.parent_id,
                "shard": stopped.job_id,
                "shard_status": stopped.status.value,
            },
        )
    return sent
