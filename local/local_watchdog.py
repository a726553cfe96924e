"""A stand-in for baton's scheduled watchdog, for chains running on the local stack.

While the local Lambda service holds no event for a job (none queued, a retry included, and none
running), two kinds of job can never move again by themselves, and the deployed watchdog restarts
both:
- a job waiting QUEUED with no lease: the hop that handed off died (a kill, a timeout while a
  throttled invoke was being retried) after committing the next epoch but before Lambda accepted
  the event;
- a job RUNNING whose lease has expired: its holder died, and Lambda's own retries were spent
  (a run of kills) or arrived while the dead holder's lease was still live and were discarded.
This one re-sends the event for the job's current epoch (a RUNNING job with an expired lease is
claimable at that epoch). It looks at the local service's queue and running invocations instead
of waiting minutes, and it must see the stall on two consecutive polls before it acts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from baton.handler.launch import send_event
from baton.local.stack import LocalStack
from baton.store.records import Job, JobStatus


@dataclass
class LocalWatchdog:
    stack: LocalStack
    on_nudge: Callable[[Job], None] | None = None
    nudges: list[int] = field(default_factory=list)
    _suspect: int | None = None

    def __call__(self, job: Job) -> None:
        if not self._stalled(job):
            self._suspect = None
            return
        if self._suspect != job.epoch:
            self._suspect = job.epoch
            return
        again = self.stack.store.get(job.job_id)
        if again.epoch != job.epoch or not self._stalled(again):
            return
        send_event(self.stack.client("lambda"), self.stack.function.name, again)
        self.nudges.append(again.epoch)
        self._suspect = None
        if self.on_nudge is not None:
            self.on_nudge(again)

    def _stalled(self, job: Job) -> bool:
        lost = (job.status is JobStatus.QUEUED and job.lease_owner is None) or (
            job.status is JobStatus.RUNNING and not job.lease_alive(self.stack.store.clock.now_ms())
        )
        service = self.stack.lambda_
        # This job's events only: another job's hops (a fan-out parent polling its shards) keep
        # the service busy without ever bringing this one back.
        return lost and service.config.concurrency_cap > 0 and not service.busy_with(job.job_id)
