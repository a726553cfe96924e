"""The lease holder: what a successful claim returns, and every write made under the lease.

A `LeaseHolder` owns the fence of its writes: the token of its last applied write and those of
its writes of unknown outcome, which its next write names (`held` in store/conditions.py), and
the state object its last commit points to (deleted once a later commit supersedes it). Its
writes move these forward themselves; the caller reads only `lease` and `job`.

Every write here raises `LeaseLost` when refused (another invocation holds the job now, or an
operator moved it: stop at once and invoke nothing) and `WriteUnknown` when its outcome is
unknown (the next write of this holder accepts either version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pynamodb.expressions.update import Action

from baton.store import conditions, hop_limit
from baton.store.clock import iso_from_ms
from baton.store.codec import StateRef
from baton.store.constants import RECENT_HOPS_KEPT
from baton.store.counter_limits import check_counters
from baton.store.errors import LeaseLost, WriteUnknown
from baton.store.last_error import cut, failed_attempt, last_attempt
from baton.store.model import HopAttribute
from baton.store.records import (
    Ending,
    FailureOutcome,
    HopEnd,
    HopRecord,
    Job,
    JobStatus,
    Lease,
    Progress,
)
from baton.store.writes import Refused, new_token

if TYPE_CHECKING:
    from baton.store.job_table import JobTable


class NoState:
    """Marks a commit that leaves the state as it is (a released attempt, a stop)."""


NO_STATE = NoState()


class LeaseHolder:
    """The invocation holding epoch `lease.epoch` of a job, and the writes only it may make.

    `job` is the job as this holder last wrote it (as claimed, until its first commit).
    """

    def __init__(self, table: JobTable, lease: Lease, job: Job, version: str) -> None:
        self.table = table
        self.lease = lease
        self.job = job
        # The state object the last commit points to (superseded objects are deleted after
        # each commit), the token of the last applied write and those of unknown outcome.
        self._committed_ref: StateRef | None = job.state_ref
        self._version = version
        self._pending: dict[str, str] = {}  # token -> operation

    def checkpoint(self, progress: Progress) -> Job:
        """Commit state and counters together and renew the lease for one term; the returned
        job carries operator requests. The fence is the holder's alone (`held`): the renewal
        lands only while this holder still holds the epoch, whether or not its lease lapsed.

        Raises:
            LeaseLost: the holder no longer holds the job; stop, invoke nothing.
            WriteUnknown: the outcome is unknown; the next write accepts either.
            StateTooLarge, StateNotJson, CountersTooLarge: the progress cannot be stored.
        """
        m = self.table.model
        now = self.table.now()
        stamp = iso_from_ms(now)
        renewed = max(self.table.lease_until(now, self.lease.deadline_ms), self.lease.expires_ms)
        state_actions, ref = self._progress_actions(progress, "checkpoint")
        actions = [
            *state_actions,
            m.attempts.set(0),
            m.lease_expires_ms.set(renewed),
            m.updated_at.set(stamp),
            m.heartbeat_at.set(stamp),
        ]
        job = self._commit("checkpoint", actions, ref, lease_expires_ms=renewed)
        self.lease = replace(self.lease, expires_ms=renewed)
        self.job = job  # attempts are counted from here on (this write reset them to 0)
        return job

    def hand_off(self, progress: Progress, hop: HopEnd, timing: dict[str, int]) -> Job:
        """Commit, bump the epoch and release the lease in one write; the caller then invokes.

        Raises:
            LeaseLost: the holder no longer holds the job (its `landed` is set when an earlier
                write of its own landed: the job as that write left it).
            WriteUnknown: the outcome is unknown.
            StateTooLarge, StateNotJson, CountersTooLarge: the progress cannot be stored.
        """
        actions, ref = self._hand_off_actions(progress, hop, timing)
        return self._commit("hand_off", actions, ref)

    def _hand_off_actions(
        self, progress: Progress, hop: HopEnd, timing: dict[str, int]
    ) -> tuple[list[Action], StateRef | None]:
        """What a hand-off and a park both write: the progress, the lease released, the next
        epoch QUEUED, attempts reset."""
        m = self.table.model
        state_actions, ref = self._progress_actions(progress, "hand_off")
        actions = [
            *state_actions,
            *self._release_actions(hop),
            m.epoch.set(self.lease.epoch + 1),
            *self.table.status_actions(self.lease.job_id, JobStatus.QUEUED),
            m.attempts.set(0),
            m.timing.set(timing),
        ]
        return actions, ref

    def park(
        self, progress: Progress, hop: HopEnd, timing: dict[str, int], waiting_for: str
    ) -> Job:
        """A hand-off with no event: commit, bump the epoch and release the lease, and leave the
        job QUEUED marked `waiting_for`, holding no Lambda slot while it waits. Whoever it waits
        for sends the new epoch's event (a fan-out's shard as it ends; the watchdog re-sends it
        as a backstop). The hop is not counted against `max_hops` (store/hop_limit.py).

        Raises:
            LeaseLost: as `hand_off`.
            WriteUnknown: the outcome is unknown.
            StateTooLarge, StateNotJson, CountersTooLarge: the progress cannot be stored.
        """
        m = self.table.model
        # Recorded (audit, fault points) as the hand-off it is; only its event is not sent here.
        actions, ref = self._hand_off_actions(progress, hop, timing)
        actions += [*hop_limit.wait_not_counted(m), m.waiting_for.set(waiting_for)]
        return self._commit("hand_off", actions, ref)

    def finish(self, progress: Progress, hop: HopEnd, ending: Ending | None = None) -> Job:
        """Commit the last progress and end the job SUCCEEDED, with its summary and report.

        Raises:
            LeaseLost: as `hand_off`.
            WriteUnknown: the outcome is unknown.
            StateTooLarge, StateNotJson, CountersTooLarge: the progress cannot be stored.
        """
        m = self.table.model
        state_actions, ref = self._progress_actions(progress, "finish")
        actions = [
            *state_actions,
            *self._release_actions(hop),
            *self.table.terminal_actions(ending),
            *self.table.status_actions(self.lease.job_id, JobStatus.SUCCEEDED),
            m.attempts.set(0),
            m.last_error.remove(),  # an error a retry or a resume got past is no longer news
        ]
        return self._commit("finish", actions, ref)

    def fail(
        self,
        error: str,
        hop: HopEnd,
        progress: Progress | None = None,
        ending: Ending | None = None,
    ) -> Job:
        """End the job FAILED; progress, when given, is committed so a resume continues from it.

        Raises:
            LeaseLost: as `hand_off`.
            WriteUnknown: the outcome is unknown.
            StateTooLarge, StateNotJson, CountersTooLarge: the progress cannot be stored.
        """
        m = self.table.model
        state_actions: list[Action] = []
        ref: StateRef | NoState | None = NO_STATE
        if progress is not None:
            state_actions, ref = self._progress_actions(progress, "fail")
        actions = [
            *state_actions,
            *self._release_actions(hop),
            *self.table.terminal_actions(ending, failed=True),
            *self.table.status_actions(self.lease.job_id, JobStatus.FAILED),
            m.last_error.set(cut(error)),
        ]
        return self._commit("fail", actions, ref)

    def record_failure(
        self, error: str, hop: HopEnd, ending: Ending | None = None
    ) -> FailureOutcome:
        """Count a failed attempt at the current cursor: release for a retry, or fail the job.

        `ending` (summary and report) is used only when this attempt was the last one.

        Raises:
            LeaseLost: as `hand_off` (a released attempt that landed earlier: `landed` QUEUED
                at this epoch).
            WriteUnknown: the outcome is unknown.
        """
        self._settle_pending()
        attempts = self.job.attempts + 1
        if attempts >= self.job.max_attempts:
            message = last_attempt(attempts, self.job.max_attempts, error)
            job = self.fail(message, hop, ending=ending)
            return FailureOutcome(will_retry=False, job=job)
        m = self.table.model
        actions = [
            *self._release_actions(hop),
            *self.table.status_actions(self.lease.job_id, JobStatus.QUEUED),
            m.attempts.set(attempts),
            m.last_error.set(failed_attempt(attempts, self.job.max_attempts, error)),
        ]
        job = self._commit("release", actions, NO_STATE)
        return FailureOutcome(will_retry=True, job=job)

    def will_fail_on_error(self) -> bool:
        """Whether one more failed attempt ends the job (so its report should be written).

        Raises nothing: a write of unknown outcome it cannot settle (the item unreadable) leaves
        the count as claimed.
        """
        self._settle_pending()
        return self.job.attempts + 1 >= self.job.max_attempts

    def stop(self, status: JobStatus, hop: HopEnd, ending: Ending | None = None) -> Job:
        """Honour an operator's request: PAUSED (resumable) or CANCELLED (final).

        The state is left as last committed: the holder stops only right after a commit (or at
        its claim), so there is nothing newer to save.

        Raises:
            ValueError: `status` is neither PAUSED nor CANCELLED.
            LeaseLost: as `hand_off`.
            WriteUnknown: the outcome is unknown.
        """
        if status not in (JobStatus.PAUSED, JobStatus.CANCELLED):
            raise ValueError(f"stop takes PAUSED or CANCELLED, not {status}")
        m = self.table.model
        op = status.value.lower()
        actions = [
            *self._release_actions(hop),
            *self.table.status_actions(self.lease.job_id, status),
            m.pause_requested.remove(),
            # A cancel that landed after the holder read the pause stays on the PAUSED item:
            # it outranks the pause, and the next touch (cancel, resume, claim) honours it.
            *([m.cancel_requested.remove()] if status is JobStatus.CANCELLED else []),
        ]
        if status is JobStatus.CANCELLED:
            actions.extend(self.table.terminal_actions(ending))
        return self._commit(op, actions, NO_STATE)

    # ----------------------------------------------------------------- internals

    def _settle_pending(self) -> None:
        """Before counting a failed attempt: a write of this holder's of unknown outcome (a
        checkpoint, which resets `attempts`) may have landed. Read the item once; when it
        carries that write's token, the write is applied (as `_commit` would have taken it)
        and attempts count from the item, not from the job as claimed. Unreadable, or not
        landed: the count stays as it was."""
        if not self._pending:
            return
        lease, table = self.lease, self.table
        try:
            item = table.writer.read(lease.job_id)
        except Exception:
            return
        if item is None or item.last_write not in self._pending:
            return
        if item.epoch != lease.epoch or item.lease_owner != lease.owner:
            return
        token = str(item.last_write)
        table.record(self._pending[token], lease.job_id, lease.epoch, lease.owner, table.now())
        job = table.to_job(item)
        self._version = token
        self._pending.clear()
        superseded, self._committed_ref = self._committed_ref, job.state_ref
        if superseded is not None and superseded != job.state_ref:
            table.codec.discard(superseded)
        self.job = job

    def _commit(
        self,
        op: str,
        actions: Sequence[Action],
        written: StateRef | NoState | None,
        *,
        lease_expires_ms: int | None = None,
    ) -> Job:
        """One write by the lease holder, fenced by `held`.

        `written` is the state object this write points to (None when the state went inline,
        NO_STATE when the write leaves the state alone). Applied (also when an earlier attempt
        of this call landed and its answer was lost): the object it superseded is deleted.
        Refused: `LeaseLost`, and nothing is deleted (the object just written leaks to the
        lifecycle rule; deleting it is safe only if no attempt of this write can ever land, which
        no client can know). Unknown: `WriteUnknown`, nothing deleted, and the next write of this
        holder accepts either version.
        """
        lease, table = self.lease, self.table
        token = new_token()
        fence = conditions.held(table.model, lease, [self._version, *self._pending])
        try:
            outcome = table.writer.update(lease.job_id, list(actions), fence, token)
        except WriteUnknown:
            self._pending[token] = op
            raise
        if isinstance(outcome, Refused):
            item = outcome.item
            own = item is not None and item.last_write in self._pending
            if own and item is not None:
                landed_op = self._pending[str(item.last_write)]
                table.record(landed_op, lease.job_id, lease.epoch, lease.owner, table.now())
            raise LeaseLost(
                f"job {lease.job_id!r} epoch {lease.epoch}: {lease.owner} no longer holds the "
                f"lease ({op} refused{'; an earlier write of its own landed' if own else ''})",
                job_id=lease.job_id,
                epoch=lease.epoch,
                landed=table.to_job(item) if own and item is not None else None,
            )
        self._version = token
        self._pending.clear()
        table.record(op, lease.job_id, lease.epoch, lease.owner, table.now(), lease_expires_ms)
        self._superseded_by(written)
        return table.to_job(outcome.item)

    def _superseded_by(self, written: StateRef | NoState | None) -> None:
        """An applied commit points to `written`: the object the last one pointed to goes."""
        if isinstance(written, NoState):
            return
        superseded = self._committed_ref
        self._committed_ref = written
        if superseded is not None and superseded != written:
            self.table.codec.discard(superseded)

    def _progress_actions(
        self, progress: Progress, op: str
    ) -> tuple[list[Action], StateRef | None]:
        """The state (inline, or written to S3 now) and the counters, for one commit."""
        m, table = self.table.model, self.table
        check_counters(self.lease.job_id, progress.counters)
        encoded = table.codec.encode(self.lease.job_id, self.lease.epoch, progress.state)
        if encoded.ref is not None and table.fault_hook is not None:
            table.fault_hook(f"state_written:{op}")
        actions: list[Action] = [
            m.state_codec.set(encoded.codec),
            m.state_size.set(encoded.raw_size),
            m.counters.set(dict(progress.counters)),
            m.restarts.remove(),
        ]
        if encoded.ref is not None:
            actions += [m.state_ref.set(encoded.ref.to_dict()), m.state.remove()]
        elif encoded.blob is not None:
            actions += [m.state.set(encoded.blob), m.state_ref.remove()]
        return actions, encoded.ref

    def _release_actions(self, hop: HopEnd) -> list[Action]:
        """The lease dropped and this hop's line added to the job's timeline."""
        m = self.table.model
        now = self.table.now()
        record = HopRecord(
            hop=self.job.hops,
            epoch=self.lease.epoch,
            owner=self.lease.owner,
            started_at=iso_from_ms(self.lease.started_ms),
            ended_at=iso_from_ms(now),
            items=hop.items,
            ended_by=hop.ended_by,
        )
        kept = [*self.job.recent_hops, record][-RECENT_HOPS_KEPT:]
        return [
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            m.recent_hops.set([HopAttribute(**h.to_dict()) for h in kept]),
            m.updated_at.set(iso_from_ms(now)),
        ]
