"""Writes that restart or end a job no holder will move on, made by someone holding no lease.

The watchdog re-sends a QUEUED job's lost event (`nudge`), re-arms a job whose holder died
(`rearm`) and ends one it cannot revive (`fail_stalled`); an event that finds its job out of hops
ends it (`fail_exhausted`), and one that finds its item unreadable marks it (`fail_corrupt`).
Each is fenced on the job as read plus "no live lease" (store/conditions.py), so a holder that
claimed after the read is left alone.
"""

from __future__ import annotations

from pynamodb.expressions.update import Action

from baton.store import conditions, hop_limit
from baton.store.clock import iso_from_ms
from baton.store.errors import ChangedMeanwhile, CorruptItem, WriteUnknown
from baton.store.job_table import JobTable
from baton.store.last_error import cut
from baton.store.records import Job, JobStatus


class RecoveryWrites(JobTable):
    """The watchdog's writes, and the ends of a job no claim can take."""

    def nudge(self, job: Job) -> Job:
        """Count a watchdog re-send of a QUEUED job's event; refused if anything moved since.

        Raises:
            ChangedMeanwhile: the chain moved since the read (claimed, re-armed, written).
            WriteUnknown: the outcome is unknown.
        """
        m = self.model
        now = self.now()
        actions: list[Action] = [
            m.restarts.set(job.restarts + 1),
            m.updated_at.set(iso_from_ms(now)),
        ]
        item = self.conditional(job.job_id, actions, conditions.queued_as_read(m, job))
        self.record("nudge", job.job_id, job.epoch, None, now)
        return self.to_job(item)

    def rearm(self, job: Job) -> Job:
        """Re-arm a RUNNING job whose holder died (lease expired) at a new epoch.

        Raises:
            ChangedMeanwhile: the job moved since the read, or a live holder took it.
            WriteUnknown: the outcome is unknown.
        """
        now = self.now()
        actions = self.rearm_actions(job, now, restarts=job.restarts + 1)
        item = self.conditional(job.job_id, actions, conditions.unheld(self.model, job, now))
        self.record("rearm", job.job_id, job.epoch + 1, None, now)
        return self.to_job(item)

    def fail_stalled(self, job: Job, reason: str) -> Job:
        """End a job the watchdog could not revive; resumable by an operator later.

        Raises:
            ChangedMeanwhile: the job moved since the read, or a live holder took it.
            WriteUnknown: the outcome is unknown.
        """
        now = self.now()
        actions = self._failed_unheld_actions(job.job_id, f"stalled: {reason}", now)
        item = self.conditional(job.job_id, actions, conditions.unheld(self.model, job, now))
        self.record("fail", job.job_id, job.epoch, None, now)
        return self.to_job(item)

    def fail_exhausted(self, job: Job) -> Job | None:
        """A job whose next claim would exceed max_hops ends FAILED (none of its hops ran);
        None when it moved on since the read (it is left alone).

        Raises:
            WriteUnknown: the outcome is unknown.
        """
        m = self.model
        now = self.now()
        actions = self._failed_unheld_actions(job.job_id, hop_limit.exhausted_error(job), now)
        condition = conditions.unheld(m, job, now) & hop_limit.hops_used_up(m)
        try:
            item = self.conditional(job.job_id, actions, condition)
        except ChangedMeanwhile:
            return None
        self.record("fail", job.job_id, job.epoch, None, now)
        return self.to_job(item)

    def fail_corrupt(self, job_id: str, reason: str) -> bool:
        """End a job whose item cannot be read as a job: FAILED with the reason, lease dropped.

        Unconditional but for the item's existence: the attributes a condition would test are
        the ones that are broken. True when the item was marked; False when it is gone or the
        write's outcome is unknown (raises nothing).
        """
        m = self.model
        now = self.now()
        actions = self._failed_unheld_actions(
            job_id, f"corrupt item: {reason}", now, terminal=False
        )
        try:
            self.conditional(job_id, actions, conditions.item_exists(m))
        except (ChangedMeanwhile, WriteUnknown):
            return False
        except CorruptItem:
            pass  # written; only reading back the (still malformed) item failed
        self.record("fail", job_id, 0, None, now)
        return True

    def _failed_unheld_actions(
        self, job_id: str, error: str, now: int, *, terminal: bool = True
    ) -> list[Action]:
        """FAILED with `error` and no lease: how the watchdog and the claim path end a job that
        no holder can end itself."""
        m = self.model
        actions: list[Action] = [
            *self.status_actions(job_id, JobStatus.FAILED),
            m.last_error.set(cut(error)),
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            m.waiting_for.remove(),
            m.updated_at.set(iso_from_ms(now)),
        ]
        return actions + (self.terminal_actions(failed=True) if terminal else [])
