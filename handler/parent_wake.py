"""A shard that ends wakes its fan-out parent, parked while its shards run.

A parked parent (QUEUED at its next epoch, `waiting_for` set, no event in flight) holds no Lambda
slot; the shard whose end it waits for sends its event. A duplicate event is discarded by the
claim, and a lost one is re-sent by the watchdog, so waking is best effort.
"""

from __future__ import annotations

from collections.abc import Callable

from baton.handler.event import RelayEvent
from baton.handler.invoker import SelfInvoker
from baton.handler.observability import count, logger
from baton.handler.runtime import Runtime
from baton.store.records import Job, JobStatus


def wake_parent(rt: Runtime, job: Job, function: str, remaining: Callable[[], int]) -> None:
    """Send the parked parent of `job` (a shard that ended) its event, at the parent's epoch.

    A parent not parked needs none: it is running and reads its shards before it parks, or its
    event is on its way. Raises nothing: a failure is logged and counted, and the watchdog
    re-sends a parked parent's event when no shard did.
    """
    if not job.parent_id:
        return
    try:
        parent = rt.store.get(job.parent_id)
        if parent.status is not JobStatus.QUEUED or parent.waiting_for is None:
            return
        sent = SelfInvoker(rt.lambda_client, rt.sleep).send(
            function, RelayEvent(job_id=parent.job_id, epoch=parent.epoch).payload(), remaining
        )
    except Exception:
        logger.exception("could not wake the parent; the watchdog will")
        return
    count("ParentWoken" if sent else "ParentWakeFailed")
