"""The watchdog: finds lost chains and restarts them, a bounded number of times.

A chain is lost when its hand-off invoke never went through (the job waits QUEUED and nobody
claims it), or when its holder died and Lambda's retries are spent (RUNNING, lease long expired).
The watchdog re-sends the QUEUED job's event at its epoch, or re-arms the dead RUNNING job at a
new epoch (fencing any late retry), each time counting `restarts`; a job that still does not move
after `max_restarts` ends FAILED with a "stalled" error and stays resumable by an operator.

A queued chain is not a lost one: while the worker's reserved concurrency is all taken by live
leases, a QUEUED job's event is waiting in Lambda's queue (for up to 6 hours), so the watchdog
leaves it alone: a re-send would only add a duplicate to the backlog and count against a healthy
job. A parked job is the exception: no event of its own is queued, so it is sent one even
then (once: that one waits in the queue).
An operator's cancel or pause on a job whose holder died is applied, never dropped.
Every candidate is read, page after page.

Runs on a schedule as `baton.handler.watchdog.lambda_handler`, or from a terminal as
`baton watchdog --once`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from baton.handler.launch import InvokeFailed, send_event
from baton.handler.observability import count, logger, metrics
from baton.handler.parent_wake import event_sender, wake_parked_parent
from baton.handler.runtime import get_watchdog_runtime
from baton.store.clock import iso_from_ms
from baton.store.config import int_setting
from baton.store.constants import DEFAULT_MAX_RESTARTS, DEFAULT_STALL_AFTER_S
from baton.store.errors import ChangedMeanwhile, CorruptItem, JobNotFound, WriteUnknown
from baton.store.health import Health, assess
from baton.store.job_store import JobStore
from baton.store.records import Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


@dataclass(frozen=True)
class WatchdogSettings:
    stall_after_s: int = DEFAULT_STALL_AFTER_S
    max_restarts: int = DEFAULT_MAX_RESTARTS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WatchdogSettings:
        env = os.environ if env is None else env
        return cls(
            stall_after_s=int_setting(
                env, "BATON_WATCHDOG_STALL_S", DEFAULT_STALL_AFTER_S, 1, 86_400
            ),
            max_restarts=int_setting(
                env, "BATON_WATCHDOG_MAX_REARMS", DEFAULT_MAX_RESTARTS, 0, 100
            ),
        )


@dataclass(frozen=True)
class SweepAction:
    job_id: str
    action: str  # resent, rearmed, failed, send_failed
    epoch: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "action": self.action,
            "epoch": self.epoch,
            "detail": self.detail,
        }


class Watchdog:
    def __init__(
        self,
        store: JobStore,
        lambda_client: LambdaClient,
        function: str,
        settings: WatchdogSettings,
    ) -> None:
        self.store = store
        self.lambda_client = lambda_client
        self.function = function
        self.settings = settings
        # A shard the watchdog ends (stalled) or stops (a dead holder's request) wakes its
        # parked parent at once, rather than at the backstop's next look.
        self.send = event_sender(lambda_client, function)

    def reserved_concurrency(self) -> int | None:
        """The worker's reserved concurrency (0: the kill switch), None when unset or unknown."""
        try:
            reply = self.lambda_client.get_function_concurrency(FunctionName=self.function)
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "cannot read the reserved concurrency; sweeping anyway", extra={"error": str(exc)}
            )
            return None
        reserved = reply.get("ReservedConcurrentExecutions")
        return int(reserved) if reserved is not None else None

    def kill_switch_on(self) -> bool:
        """Whether the worker's reserved concurrency is 0: restarting anything would be futile."""
        return self.reserved_concurrency() == 0

    def _every(self, status: JobStatus, updated_before: str | None = None) -> list[Job]:
        """Every job in `status` (optionally idle since `updated_before`), all pages read."""
        return self.store.every_job(status, updated_before=updated_before)

    def sweep(self) -> list[SweepAction]:
        """One pass over QUEUED and RUNNING jobs idle for longer than the stall threshold.

        While the kill switch is on the sweep stands down: every re-send would go to the
        on-failure destination and count against the job, failing it as stalled for nothing.
        While every reserved slot is held by a live lease, stale QUEUED jobs are reported as
        waiting: their events are in Lambda's queue behind the running hops.
        """
        reserved = self.reserved_concurrency()
        if reserved == 0:
            logger.warning("kill switch is on: the watchdog restarts nothing")
            count("WatchdogStoodDown")
            return []
        now = self.store.clock.now_ms()
        cutoff = iso_from_ms(now - self.settings.stall_after_s * 1000)
        running = self._every(JobStatus.RUNNING)
        busy = sum(1 for job in running if job.lease_alive(now))
        saturated = reserved is not None and busy >= reserved
        actions: list[SweepAction] = []
        for listed in self._every(JobStatus.QUEUED, updated_before=cutoff):
            if saturated and listed.requested_stop is None and self._event_queued(listed):
                detail = (
                    f"queued behind {busy} live hops (reserved concurrency {reserved}): its event "
                    f"waits in Lambda's queue; not stalled"
                )
                actions.append(SweepAction(listed.job_id, "waiting", listed.epoch, detail))
                continue
            action = self._look_after(listed.job_id)
            if action is not None:
                actions.append(action)
        for listed in running:
            if listed.updated_at >= cutoff and listed.requested_stop is None:
                continue
            action = self._look_after(listed.job_id)
            if action is not None:
                actions.append(action)
        return actions

    def _event_queued(self, listed: Job) -> bool:
        """Whether a stale QUEUED job's event waits in Lambda's queue: a handed-off job's does.
        A parked job (waiting_for set) has none of its own until the watchdog re-sends one
        (restarts > 0: a park resets them), so a wake-up lost under a busy worker gets one
        event, which then waits there for a slot without being counted against the job again."""
        if listed.waiting_for is None:
            return True
        try:
            return self.store.get(listed.job_id).restarts > 0
        except (JobNotFound, CorruptItem):
            return False  # `_look_after` reads it again and says why

    def _look_after(self, job_id: str) -> SweepAction | None:
        try:
            job = self.store.get(job_id)
        except JobNotFound:
            return None
        except CorruptItem as exc:
            logger.error(
                "corrupt job item; left alone", extra={"job_id": job_id, "error": str(exc)}
            )
            return None
        now = self.store.clock.now_ms()
        requested = job.requested_stop
        if requested is not None and not job.lease_alive(now):
            return self._settle(job, requested)
        verdict = assess(job, now, self.settings.stall_after_s)
        if verdict.health is not Health.STALLED:
            return None
        try:
            if job.restarts >= self.settings.max_restarts:
                reason = (
                    f"{verdict.reason}; the watchdog restarted it {job.restarts} times without "
                    f"progress. Task {job.task!r}: a hop that dies every time is often a step "
                    f"that never returns before the deadline (keep each step well under the "
                    f"hop's work window). Look at the worker's logs, then `baton resume {job_id}`"
                )
                failed = self.store.fail_stalled(job, reason)
                wake_parked_parent(self.store, failed, self.send)
                count("WatchdogFailed")
                logger.error("stalled job failed", extra={"job_id": job_id, "reason": reason})
                return SweepAction(job_id, "failed", failed.epoch, reason)
            if job.status is JobStatus.QUEUED:
                moved = self.store.nudge(job)
                action = "resent"
            else:
                moved = self.store.rearm(job)
                action = "rearmed"
        except ChangedMeanwhile:
            return None  # the chain moved (or an operator acted) since the read: leave it
        except WriteUnknown as exc:
            logger.warning("watchdog write of unknown outcome", extra={"error": str(exc)})
            return None  # the next sweep reads the job again
        try:
            send_event(self.lambda_client, self.function, moved)
        except InvokeFailed as exc:
            count("WatchdogInvokeFailed")
            logger.error("watchdog invoke failed", extra={"job_id": job_id, "error": str(exc)})
            return SweepAction(job_id, "send_failed", moved.epoch, str(exc))
        count(f"Watchdog_{action}")
        logger.warning(
            "watchdog restarted a stalled job",
            extra={
                "job_id": job_id,
                "action": action,
                "epoch": moved.epoch,
                "restarts": moved.restarts,
            },
        )
        return SweepAction(job_id, action, moved.epoch, verdict.reason)

    def _settle(self, job: Job, requested: JobStatus) -> SweepAction | None:
        """Apply an operator's request to a job nobody holds (its holder died after the flag)."""
        settled = self.store.settle_requests(job)
        if settled is None:
            return None  # the chain moved meanwhile; whoever claims next sees the flag
        wake_parked_parent(self.store, settled, self.send)
        count("WatchdogSettled")
        logger.warning(
            "applied an operator request to a job whose holder died",
            extra={"job_id": job.job_id, "status": settled.status.value},
        )
        return SweepAction(
            job.job_id, requested.value.lower(), settled.epoch, "operator request applied"
        )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Scheduled entry point: one sweep, its actions returned (and logged)."""
    runtime = get_watchdog_runtime()
    watchdog = Watchdog(
        runtime.store, runtime.lambda_client, runtime.function_name, WatchdogSettings.from_env()
    )
    actions = watchdog.sweep()
    return {"actions": [a.to_dict() for a in actions]}
