"""An operator's requests: cancel, pause, resume, and the request a hand-off saw.

A request on a job nobody holds is carried out at once by one write fenced on the status and
epoch read and "no live lease" (`unheld`); on a held job it is a flag the holder honours at its
next commit (`running_under`). A request that meets a write in between reads the job again and
decides again, a few times at most.
"""

from __future__ import annotations

from pynamodb.expressions.update import Action

from baton.store import conditions, hop_limit
from baton.store.clock import iso_from_ms
from baton.store.constants import OPERATOR_RETRIES
from baton.store.errors import ChangedMeanwhile, IllegalTransition, LiveLease, WriteUnknown
from baton.store.job_table import JobTable
from baton.store.records import Job, JobStatus


class OperatorRequests(JobTable):
    """The writes an operator's cancel, pause and resume make."""

    def request_cancel(self, job_id: str) -> Job:
        """Cancel now when nobody holds the job, else ask the holder to stop at its next commit.

        Raises:
            JobNotFound: no such job.
            IllegalTransition: the job has ended otherwise (SUCCEEDED, FAILED), or kept changing
                under the request.
            WriteUnknown: the outcome of the write is unknown; asking again is safe.
        """
        return self._request(job_id, JobStatus.CANCELLED)

    def request_pause(self, job_id: str, *, cascaded: bool = False) -> Job:
        """Pause now when nobody holds the job, else ask the holder to stop at its next commit.

        `cascaded`: the pause is a fan-out parent's, passed on to its shard (the parent resumes
        the shard when it runs again). A pause by name (False) marks the shard as the
        operator's own, even one its parent's cascade had paused already.

        Raises:
            JobNotFound: no such job.
            IllegalTransition: the job has ended, or kept changing under the request.
            WriteUnknown: the outcome of the write is unknown; asking again is safe.
        """
        return self._request(job_id, JobStatus.PAUSED, cascaded)

    def settle_requests(self, job: Job) -> Job | None:
        """After a hand-off that saw a request: apply it to the QUEUED job before anyone claims.

        A job that has ended meanwhile keeps its end: a holder may finish without seeing a
        cancel flagged during its last step, and the flag must not turn SUCCEEDED into CANCELLED.
        None when nothing was applied (the next claim sees the flag and stops the job there).

        Raises:
            CorruptItem: the item written cannot be read back as a job.
        """
        target = job.requested_stop
        if target is None or job.status.terminal:
            return None
        try:
            return self._direct_transition(job, target)
        except (ChangedMeanwhile, WriteUnknown):
            return None  # the next claim sees the flag and stops the job there

    def resume(
        self,
        job_id: str,
        max_hops: int | None = None,
        *,
        force: bool = False,
        cascaded_only: bool = False,
        reopen: bool = False,
    ) -> Job:
        """Re-arm a PAUSED, FAILED, QUEUED or stalled job at a new epoch; the caller invokes it.

        A live lease is refused. With `force`, a lease whose term has run out by its holder's own
        clock (it neither renewed nor released it; the clock-skew margin is all that is left of
        it) is taken over. `cascaded_only`: only a
        shard its parent's cascade paused (a fan-out parent resuming its own pause). `reopen`: a
        CANCELLED shard too, from its last cursor (`baton resume PARENT --rerun-cancelled`).

        Raises:
            JobNotFound: no such job.
            LiveLease: a live invocation holds the job (`forced` and `force_after` say when a
                forced resume would take it).
            IllegalTransition: the job ended for good, is out of hops at `max_hops`, is not
                the cascade's with `cascaded_only`, or changed while resuming.
            WriteUnknown: the outcome of the write is unknown.
        """
        job = self.get(job_id)
        now = self.now()
        reopening = reopen and job.status is JobStatus.CANCELLED and job.parent_id is not None
        self._check_resumable(job, reopening, cascaded_only)
        grace = self.skew_ms if force else 0
        if job.lease_alive(now + grace):
            raise self._live_lease(job, force)
        new_max = max_hops if max_hops is not None else job.max_hops
        if hop_limit.used_up(job.hops, new_max):
            raise IllegalTransition(
                f"job {job_id!r} has used {job.hops} of {new_max} hops; resume with a higher "
                f"max_hops"
            )
        m = self.model
        actions = [*self.rearm_actions(job, now), m.max_hops.set(new_max)]
        condition = conditions.unheld(m, job, now + grace)
        if cascaded_only:
            # An operator's pause by name in between takes the shard back from its parent.
            condition = condition & conditions.still_paused_by_cascade(m)
        if reopening:
            actions.append(m.cancel_requested.remove())
        try:
            item = self.conditional(job.job_id, actions, condition)
        except ChangedMeanwhile:
            raise IllegalTransition(
                f"job {job_id!r} changed while resuming; look at it again and retry",
                job_id=job_id,
                epoch=job.epoch,
            ) from None
        self.record("resume", job_id, job.epoch + 1, None, now)
        return self.to_job(item)

    @staticmethod
    def _check_resumable(job: Job, reopening: bool, cascaded_only: bool) -> None:
        """Refuse a job that ended for good (but a shard being reopened), or, with
        `cascaded_only`, one its parent's cascade did not pause."""
        if job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED) and not reopening:
            how = ""
            if job.status is JobStatus.CANCELLED and job.parent_id is not None:
                how = (
                    f"; it is a shard of {job.parent_id}: `baton resume {job.parent_id} "
                    f"--rerun-cancelled` runs it again from its last cursor"
                )
            raise IllegalTransition(
                f"job {job.job_id!r} is {job.status.value}; it cannot be resumed{how}"
            )
        if cascaded_only and not (job.status is JobStatus.PAUSED and job.pause_cascaded):
            raise IllegalTransition(f"job {job.job_id!r} is not paused by its parent's cascade")

    def _live_lease(self, job: Job, force: bool) -> LiveLease:
        """Why a resume refuses the live holder of `job`, and when a forced one would not."""
        deadline = iso_from_ms((job.lease_expires_ms or 0) - self.skew_ms)
        why = (
            "its holder's lease term has not run out, so it may still be running"
            if force
            else f"resume refuses a live lease; a forced resume takes it once its term ends "
            f"at {deadline} without a renewal"
        )
        return LiveLease(
            f"job {job.job_id!r} is running: invocation {job.lease_owner} holds it until "
            f"{iso_from_ms(job.lease_expires_ms or 0)}; {why}",
            job_id=job.job_id,
            forced=force,
            force_after=deadline,
        )

    def _request(self, job_id: str, target: JobStatus, cascaded: bool = False) -> Job:
        asked = False
        for _ in range(OPERATOR_RETRIES):
            job = self.get(job_id)
            now = self.now()
            if job.status is target and (asked or target is JobStatus.CANCELLED):
                # Our flag landed (its answer lost) and the holder honoured it, or the job was
                # cancelled before: asking again is no error, so an operator can re-run a
                # cancel whose cascade to a fan-out's shards was cut short.
                return job
            if job.status.terminal:
                raise IllegalTransition(
                    f"job {job_id!r} is {job.status.value}; there is nothing to "
                    f"{'cancel' if target is JobStatus.CANCELLED else 'pause'}"
                )
            if target is JobStatus.PAUSED and job.status is JobStatus.PAUSED:
                if job.pause_cascaded and not cascaded:
                    try:
                        return self._own_pause(job)
                    except ChangedMeanwhile:
                        asked = True
                        continue
                return job
            if job.cancel_requested:
                target = JobStatus.CANCELLED  # an accepted cancel outranks a later pause
            try:
                if job.status is JobStatus.PAUSED or not job.lease_alive(now):
                    return self._direct_transition(job, target, cascaded)
                return self._flag(job, target, cascaded)
            except ChangedMeanwhile:
                asked = True
                continue
        raise IllegalTransition(f"job {job_id!r} kept changing under the request; try again")

    def _direct_transition(self, job: Job, target: JobStatus, cascaded: bool | None = None) -> Job:
        """`cascaded`: whose pause this is (None: keep what the item says, as a request the
        holder did not get to honour is carried out for whoever made it)."""
        m = self.model
        now = self.now()
        actions: list[Action] = [
            *self.status_actions(job.job_id, target),
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            m.cancel_requested.remove(),
            m.pause_requested.remove(),
            m.waiting_for.remove(),  # a parked job stopped here waits for nothing any more
            m.updated_at.set(iso_from_ms(now)),
        ]
        if target is JobStatus.CANCELLED or cascaded is False:
            actions.append(m.pause_cascaded.remove())
        elif cascaded:
            actions.append(m.pause_cascaded.set(True))
        if target is JobStatus.CANCELLED:
            actions.extend(self.terminal_actions())
        item = self.conditional(job.job_id, actions, conditions.unheld(m, job, now))
        self.record(target.value.lower(), job.job_id, job.epoch, None, now)
        return self.to_job(item)

    def _flag(self, job: Job, target: JobStatus, cascaded: bool = False) -> Job:
        m = self.model
        flag = m.cancel_requested if target is JobStatus.CANCELLED else m.pause_requested
        condition = conditions.running_under(m, job)
        # No token: setting the flag again is harmless, and leaving `last_write` alone keeps the
        # holder's chain of writes intact.
        actions = [flag.set(True), m.updated_at.set(iso_from_ms(self.now()))]
        if target is JobStatus.PAUSED:
            actions.append(m.pause_cascaded.set(True) if cascaded else m.pause_cascaded.remove())
        item = self.conditional(job.job_id, actions, condition, token=False)
        return self.to_job(item)

    def _own_pause(self, job: Job) -> Job:
        """An operator pauses by name a shard its parent's cascade paused: it becomes theirs (the
        parent no longer resumes it). No token: idempotent, like a flag."""
        m = self.model
        condition = conditions.paused_by_cascade(m, job)
        actions = [m.pause_cascaded.remove(), m.updated_at.set(iso_from_ms(self.now()))]
        return self.to_job(self.conditional(job.job_id, actions, condition, token=False))
