"""The hand-off protocol: every operation is one conditional write on the job item.

The condition is the whole safety argument, and every condition lives in this file. A write by
the lease holder carries `epoch = e AND lease_owner = me AND last_write IN (my last write, my
writes of unknown outcome)`: the last clause chains the holder's writes, so an earlier write that
lands late (a request still on the wire after its timeout) can never undo a later one. The claim
that starts the chain is chained too: it names the `last_write` it read. An operator's direct
transition carries the status and epoch it read plus "no live lease".

Every write goes through `baton.store.writes.Writer`, which owns the outcome rule: applied (this
attempt, or an earlier attempt of the same call retried by botocore after a lost answer: its
token is on the item), refused (the item moved on), or unknown (`WriteUnknown`).

A write may also land twice: botocore gives up on an attempt still on the wire (a read timeout)
and sends the request again; the retry lands, and the first attempt reaches DynamoDB later, after
whatever came next (within minutes at most: DynamoDB refuses a request whose signature is older
than 15). Each row says what such a late copy does; tests/test_late_copies.py holds one test per
row, and the simulator's late-copy fault (`Rates.late_copy`) strikes every write.

operation      | condition                        | effect                  | a refusal means
---------------|----------------------------------|-------------------------|--------------------
create         | no item with this id             | QUEUED, epoch 1         | the id exists: same
               |                                  |                         | task+params is the
               |                                  |                         | same job, else
               |                                  |                         | JobConflict
    late copy: refused (the item its retry created exists).
create shard   | as create, in one transaction    | as create               | ParentStopped: no
(guarded)      | with: the parent is RUNNING,     |                         | shard after an
               | held by the launching lease, no  |                         | accepted request
               | cancel or pause flag             |                         |
    late copy: refused (the Put's condition; on DynamoDB the ClientRequestToken already
    answers a resend within 10 minutes without writing).
claim          | read first; epoch = e, QUEUED or | RUNNING, lease for one  | classified from the
               | RUNNING, lease free or expired,  | term (to the deadline   | item read back; one
               | hops < max_hops, last_write as   | at most) + skew,        | that only met a
               | read                             | hops + 1                | write between its
               |                                  |                         | read and its write
               |                                  |                         | reads again; else
               |                                  |                         | the event is
               |                                  |                         | discarded
    late copy: refused: its retry (or any later write with a token) changed last_write, so it
    never counts a second hop nor takes the holder's chain of writes back.
checkpoint     | held: epoch = e, lease_owner =   | state, counters,        | LeaseLost: stop,
               | me, last_write in my chain       | attempts 0, lease       | invoke nothing
               |                                  | renewed for one term    |
    late copy (of this and every held write below): refused: its retry moved last_write to its
    own token, which the copy's condition does not name.
hand off       | held                             | state, counters, epoch  | LeaseLost
               |                                  | e + 1, QUEUED, no lease |
park           | held                             | as hand off, and        | LeaseLost
(a fan-out     |                                  | waiting_for set, the    |
parent waits)  |                                  | hop counted in waits,   |
               |                                  | not hops; no event sent |
    late copy: refused, as every held write's. Whoever ends the wait sends the event of epoch
    e + 1 (a shard as it stops, the watchdog as a backstop); the claim of that epoch, an
    operator's cancel, pause or resume and a stall verdict remove waiting_for.
finish         | held                             | state, counters,        | LeaseLost
               |                                  | SUCCEEDED, TTL          |
fail           | held                             | FAILED (+ state and     | LeaseLost
               |                                  | counters when given)    |
release        | held                             | QUEUED, no lease,       | LeaseLost
(task error)   |                                  | attempts + 1            |
stop           | held                             | PAUSED or CANCELLED     | LeaseLost
cancel/pause   | status, epoch as read, no live   | CANCELLED or PAUSED     | ChangedMeanwhile:
(unheld)       | lease                            | (+ whose pause it is)   | read, decide again
    late copy: refused: its retry changed the status it read.
cancel/pause   | RUNNING, epoch and owner as read | flag set (no token:     | ChangedMeanwhile
flag (held)    |                                  | idempotent)             |
    late copy: lands while the same holder runs, setting the same flag again (harmless); once
    that holder stopped or handed off, refused (status or owner moved).
pause by name  | PAUSED by the parent's cascade,  | no longer the cascade's | ChangedMeanwhile
of a shard     | epoch as read                    | (no token: idempotent)  |
    late copy: refused: the marker it removes is gone.
resume         | status, epoch as read, no live   | epoch + 1, QUEUED,      | IllegalTransition
               | lease (+ skew with --force; +    | attempts 0              |
               | still the cascade's pause, for a |                         |
               | parent resuming its shard)       |                         |
    late copy: refused: its retry moved the epoch.
watchdog nudge | QUEUED, epoch and updated_at as  | restarts + 1            | ChangedMeanwhile:
               | read, no lease                   |                         | the chain moved
    late copy: refused: its retry moved updated_at.
watchdog rearm | status, epoch as read, no live   | epoch + 1, QUEUED,      | ChangedMeanwhile
               | lease                            | restarts + 1            |
    late copy: refused: its retry moved the epoch.
fail stalled   | status, epoch as read, no live   | FAILED                  | ChangedMeanwhile
               | lease                            |                         |
fail exhausted | as read, no live lease, hops >=  | FAILED (keeps the last  | moved on: left alone
               | max_hops                         | failed hop's error)     |
    late copy (of both): refused: its retry changed the status it read.
fail corrupt   | the item exists                  | FAILED                  | it is gone
    late copy: lands again: FAILED with the same reason (the attributes a condition would
    test are the broken ones). Only an operator's repair and resume, minutes later, beyond a
    copy's life, could come between.

"No live lease" (`_unheld`) is what keeps every write above by someone who does not hold the
lease off a holder that claimed after the write's read: without it a resume, re-arm or stall
verdict read on a dead holder's expired lease would fence the live one that just took over,
throw away its work since its claim and send a second chain over the same objects
(tests/test_live_holder_fence.py).

Nothing here deletes a state object the item may point to: a spilled object written for a write
that was refused or of unknown outcome is left to the bucket's lifecycle rule; only the object a
holder's applied commit superseded is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from baton.store import status_index
from baton.store.clock import Clock, SystemClock, iso_from_ms
from baton.store.codec import StateCodec, StateRef, to_json_bytes
from baton.store.config import StoreSettings, dynamodb_endpoint, resolve_region
from baton.store.constants import (
    CLAIM_TRIES,
    CLOCK_SKEW_MS,
    DEFAULT_RETENTION_DAYS,
    FAILED_RETENTION_DAYS,
    LAST_ERROR_LIMIT_CHARS,
    LEASE_TERM_MS,
    OPERATOR_RETRIES,
    PARAMS_LIMIT_BYTES,
    RECENT_HOPS_KEPT,
    SUMMARY_LIMIT_BYTES,
)
from baton.store.counter_limits import check_counters
from baton.store.errors import (
    ChangedMeanwhile,
    CorruptItem,
    IllegalTransition,
    InvalidJob,
    JobConflict,
    JobNotFound,
    LeaseLost,
    LiveLease,
    ParentStopped,
    StateCorrupt,
    WriteUnknown,
)
from baton.store.mapping import job_from_item
from baton.store.model import (
    HopAttribute,
    JobModel,
    bind_job_model,
    status_shard,
    status_shards,
)
from baton.store.records import (
    Claim,
    ClaimRejected,
    Ending,
    FailureOutcome,
    HopEnd,
    HopRecord,
    Job,
    JobSpec,
    JobStatus,
    Lease,
    Progress,
    RejectReason,
)
from baton.store.writes import GuardRefused, Refused, Writer, new_token

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class CommitEvent:
    """One committed write, reported to an optional audit sink (tests prove I1/I2 with it)."""

    op: str
    job_id: str
    epoch: int
    owner: str | None
    at_ms: int
    lease_expires_ms: int | None = None


AuditSink = Callable[[CommitEvent], None]
# Called with "state_written:<op>" after a spilled state reached S3 and before the item write;
# simulations crash there to prove such a crash loses nothing.
FaultHook = Callable[[str], None]


def max_hops_reached(max_hops: int) -> str:
    """The last_error of a job stopped by its recursion guard."""
    return (
        f"max_hops reached: the job used all {max_hops} hops; its cursor is kept, "
        f"resume with a higher max_hops to continue"
    )


def _cut(text: str) -> str:
    if len(text) <= LAST_ERROR_LIMIT_CHARS:
        return text
    return text[: LAST_ERROR_LIMIT_CHARS - 15] + " ...[truncated]"


class JobStore:
    """The protocol operations over one jobs table."""

    def __init__(
        self,
        model: type[JobModel],
        clock: Clock | None = None,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        skew_ms: int = CLOCK_SKEW_MS,
        lease_ms: int = LEASE_TERM_MS,
        audit: AuditSink | None = None,
        codec: StateCodec | None = None,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.model = model
        self.clock = clock or SystemClock()
        self.retention_days = retention_days
        self.skew_ms = skew_ms
        self.lease_ms = lease_ms
        self.audit = audit
        self.codec = codec or StateCodec()
        self.fault_hook = fault_hook
        self.writer = Writer(model)

    @classmethod
    def from_settings(
        cls,
        settings: StoreSettings,
        clock: Clock | None = None,
        *,
        session: boto3.session.Session | None = None,
        s3: S3Client | None = None,
        states: bool = True,
    ) -> JobStore:
        """The store the settings name, its endpoint and region read from `session` (one is
        made when not given). Spilled states use `s3` (else a client of the session's) unless
        `states` is False: a caller that never reads or writes a job's state (the watchdog)
        needs no S3 client."""
        session = session or boto3.session.Session()
        model = bind_job_model(settings.table, resolve_region(session), dynamodb_endpoint(session))
        codec = StateCodec()
        if settings.state_bucket and states:
            s3 = s3 or session.client("s3")
            codec = StateCodec(s3, settings.state_bucket, inline_limit=settings.state_inline_limit)
        return cls(
            model,
            clock,
            retention_days=settings.retention_days,
            skew_ms=settings.skew_ms,
            lease_ms=settings.lease_ms,
            codec=codec,
        )

    @property
    def table_name(self) -> str:
        return str(self.model.Meta.table_name)

    # ----------------------------------------------------------------- table

    def ensure_table(self) -> bool:
        """Create the jobs table (and its TTL) if missing; True when it was created."""
        if self.model.exists():
            return False
        self.model.create_table(wait=True)
        self.model.update_ttl(ignore_update_ttl_errors=True)
        return True

    def backfill_status_index(self) -> int:
        """Give items written before the sharded by-status index their index key (an upgrade
        step, see store/status_index.py); how many items were given one."""
        return status_index.backfill(self.model)

    # ----------------------------------------------------------------- reads

    def get(self, job_id: str) -> Job:
        try:
            item = self.model.get(job_id, consistent_read=True)
        except DoesNotExist:
            raise JobNotFound(job_id) from None
        except (ValueError, TypeError) as exc:
            raise CorruptItem(
                f"job item {job_id!r} is malformed ({type(exc).__name__}: {exc}); fix or delete it"
            ) from exc
        return self._to_job(item)

    def load_state(self, job: Job) -> Any:
        """The task state the job's last commit wrote (verified if spilled); None before any."""
        return self.codec.load(job.state_blob, job.state_ref, job.state_codec)

    def get_many(self, job_ids: list[str]) -> list[Job]:
        """Several jobs in one BatchGetItem per 100 (consistent); missing ids are left out."""
        if not job_ids:
            return []
        items = self.model.batch_get(job_ids, consistent_read=True)
        return [self._to_job(item) for item in items]

    def find(self, job_id: str) -> Job | None:
        try:
            return self.get(job_id)
        except JobNotFound:
            return None

    # ----------------------------------------------------------------- create

    def create(self, spec: JobSpec, *, under: Lease | None = None) -> tuple[Job, bool]:
        """Create a QUEUED job at epoch 1; an identical existing job is returned, not re-created.

        `under`: the lease of the fan-out parent creating this shard. The create is then one
        transaction with a check that the parent is still held by that lease and carries no
        cancel or pause request: a shard is never created after an operator's request on its
        parent was accepted (`ParentStopped` instead).
        """
        params_json = to_json_bytes(spec.params)
        if len(params_json) > PARAMS_LIMIT_BYTES:
            raise InvalidJob(
                f"job parameters are {len(params_json):,} bytes, over the limit of "
                f"{PARAMS_LIMIT_BYTES:,}; put large inputs in S3 and pass their location"
            )
        now = self._now()
        stamp = iso_from_ms(now)
        m = self.model
        item = m(
            spec.job_id,
            status=JobStatus.QUEUED.value,
            status_shard=status_shard(spec.job_id, JobStatus.QUEUED.value),
            epoch=1,
            task=spec.task,
            params=json.loads(params_json),
            counters={},
            hops=0,
            max_hops=spec.max_hops,
            attempts=0,
            max_attempts=spec.max_attempts,
            created_at=stamp,
            updated_at=stamp,
            parent_id=spec.parent_id,
        )
        if under is None:
            outcome = self.writer.put(item, m.job_id.does_not_exist(), new_token())
        else:
            guarded = self.writer.put_guarded(
                item, m.job_id.does_not_exist(), new_token(), under.job_id, self._launching(under)
            )
            if isinstance(guarded, GuardRefused):
                existing = None if guarded.item is None else self._to_job(guarded.item)
                raise ParentStopped(
                    f"shard {spec.job_id!r} not started: its parent {under.job_id!r} has an "
                    f"operator's request on it or is no longer held by {under.owner}",
                    job_id=under.job_id,
                    existing=existing,
                )
            outcome = guarded
        if isinstance(outcome, Refused):
            if outcome.item is None:
                raise WriteUnknown(
                    f"job {spec.job_id!r} could not be created and cannot be read; try again",
                    job_id=spec.job_id,
                )
            existing = self._to_job(outcome.item)
            same = existing.task == spec.task and to_json_bytes(existing.params) == params_json
            if not same:
                raise JobConflict(
                    f"job {spec.job_id!r} exists already with task {existing.task!r} and other "
                    f"parameters",
                    job_id=spec.job_id,
                )
            return existing, False
        self._audit("create", spec.job_id, 1, None, now)
        return self.get(spec.job_id), True

    # ----------------------------------------------------------------- the holder's writes

    def claim(self, job_id: str, epoch: int, owner: str, deadline_ms: int) -> Claim | ClaimRejected:
        """Take the lease on epoch `epoch` for one lease term (to the holder's deadline at most)
        plus the clock skew; the holder's checkpoints renew it (`lease_until`)."""
        m = self.model
        for _ in range(CLAIM_TRIES):
            # The claim is chained like the holder's writes: it names the last write it saw on
            # the item, so a copy of it that lands late (after the hop's own writes, or after its
            # release) finds another `last_write` and is refused instead of claiming again.
            seen = self.writer.read(job_id)
            if seen is None:
                return ClaimRejected(RejectReason.NOT_FOUND)
            now = self._now()
            token = new_token()
            condition = (
                (m.epoch == epoch)
                & m.status.is_in(JobStatus.QUEUED.value, JobStatus.RUNNING.value)
                & (m.lease_owner.does_not_exist() | (m.lease_expires_ms < now))
                & (m.hops < m.max_hops)
                & self._after(seen)
            )
            expires = self.lease_until(now, deadline_ms)
            stamp = iso_from_ms(now)
            actions: list[Action] = [
                *self._status(job_id, JobStatus.RUNNING),
                m.lease_owner.set(owner),
                m.lease_expires_ms.set(expires),
                m.hops.add(1),
                m.updated_at.set(stamp),
                m.heartbeat_at.set(stamp),
                m.waiting_for.remove(),
            ]
            outcome = self.writer.update(job_id, actions, condition, token)
            if not isinstance(outcome, Refused):
                break
            # Classified from the item as read back after the refusal (the condition, not this
            # read, decides: a refused claim is the protocol's own verdict).
            rejected = self._classify(outcome.item, epoch)
            if rejected.reason is not RejectReason.CONTENDED:
                return rejected
            # Only the item moved between the read and the write (another write landed there):
            # read it again and decide again.
        else:
            return rejected
        self._audit("claim", job_id, epoch, owner, now, expires)
        job = self._to_job(outcome.item)
        lease = Lease(
            job_id=job_id,
            epoch=epoch,
            owner=owner,
            expires_ms=expires,
            started_ms=now,
            deadline_ms=deadline_ms,
        )
        return Claim(lease=lease, job=job, committed_ref=job.state_ref, version=token)

    def lease_until(self, now_ms: int, deadline_ms: int) -> int:
        """When a lease taken or renewed at `now_ms` expires: one lease term later, never past
        the holder's deadline (Lambda has killed it by then), plus the clock-skew margin."""
        return min(now_ms + self.lease_ms, deadline_ms) + self.skew_ms

    def checkpoint(self, claim: Claim, progress: Progress) -> Job:
        """Commit state and counters together and renew the lease for one term; the returned
        job carries operator requests. The fence is the holder's alone (`_held`): the renewal
        lands only while this holder still holds the epoch, whether or not its lease lapsed."""
        m = self.model
        now = self._now()
        stamp = iso_from_ms(now)
        renewed = max(self.lease_until(now, claim.lease.deadline_ms), claim.lease.expires_ms)
        state_actions, ref = self._progress_actions(claim, progress, "checkpoint")
        actions = [
            *state_actions,
            m.attempts.set(0),
            m.lease_expires_ms.set(renewed),
            m.updated_at.set(stamp),
            m.heartbeat_at.set(stamp),
        ]
        job = self._commit("checkpoint", claim, actions, ref, lease_expires_ms=renewed)
        claim.lease = replace(claim.lease, expires_ms=renewed)
        claim.job = job  # attempts are counted from here on (this write reset them to 0)
        return job

    def hand_off(
        self, claim: Claim, progress: Progress, hop: HopEnd, timing: dict[str, int]
    ) -> Job:
        """Commit, bump the epoch and release the lease in one write; the caller then invokes."""
        m = self.model
        state_actions, ref = self._progress_actions(claim, progress, "hand_off")
        actions = [
            *state_actions,
            *self._release_actions(claim, hop),
            m.epoch.set(claim.lease.epoch + 1),
            *self._status(claim.lease.job_id, JobStatus.QUEUED),
            m.attempts.set(0),
            m.timing.set(timing),
        ]
        return self._commit("hand_off", claim, actions, ref)

    def park(
        self,
        claim: Claim,
        progress: Progress,
        hop: HopEnd,
        timing: dict[str, int],
        waiting_for: str,
    ) -> Job:
        """A hand-off with no event: commit, bump the epoch and release the lease, and leave the
        job QUEUED marked `waiting_for`, holding no Lambda slot while it waits. Whoever it waits
        for sends the new epoch's event (a fan-out's shard as it ends; the watchdog re-sends it
        as a backstop). The hop is moved from `hops` to `waits`: waiting is not work, and a
        parent woken once per shard must not run out of `max_hops` over 10,000 shards."""
        m = self.model
        # Recorded (audit, fault points) as the hand-off it is; only its event is not sent here.
        state_actions, ref = self._progress_actions(claim, progress, "hand_off")
        actions = [
            *state_actions,
            *self._release_actions(claim, hop),
            m.epoch.set(claim.lease.epoch + 1),
            *self._status(claim.lease.job_id, JobStatus.QUEUED),
            m.attempts.set(0),
            m.timing.set(timing),
            m.hops.add(-1),
            m.waits.add(1),
            m.waiting_for.set(waiting_for),
        ]
        return self._commit("hand_off", claim, actions, ref)

    def finish(
        self, claim: Claim, progress: Progress, hop: HopEnd, ending: Ending | None = None
    ) -> Job:
        m = self.model
        state_actions, ref = self._progress_actions(claim, progress, "finish")
        actions = [
            *state_actions,
            *self._release_actions(claim, hop),
            *self._terminal_actions(ending),
            *self._status(claim.lease.job_id, JobStatus.SUCCEEDED),
            m.attempts.set(0),
            m.last_error.remove(),  # an error a retry or a resume got past is no longer news
        ]
        return self._commit("finish", claim, actions, ref)

    def fail(
        self,
        claim: Claim,
        error: str,
        hop: HopEnd,
        progress: Progress | None = None,
        ending: Ending | None = None,
    ) -> Job:
        """End the job FAILED; progress, when given, is committed so a resume continues from it."""
        m = self.model
        state_actions: list[Action] = []
        ref: StateRef | _NoState | None = NO_STATE
        if progress is not None:
            state_actions, ref = self._progress_actions(claim, progress, "fail")
        actions = [
            *state_actions,
            *self._release_actions(claim, hop),
            *self._terminal_actions(ending, failed=True),
            *self._status(claim.lease.job_id, JobStatus.FAILED),
            m.last_error.set(_cut(error)),
        ]
        return self._commit("fail", claim, actions, ref)

    def record_failure(
        self, claim: Claim, error: str, hop: HopEnd, ending: Ending | None = None
    ) -> FailureOutcome:
        """Count a failed attempt at the current cursor: release for a retry, or fail the job.

        `ending` (summary and report) is used only when this attempt was the last one.
        """
        self._settle_pending(claim)
        attempts = claim.job.attempts + 1
        if attempts >= claim.job.max_attempts:
            message = f"attempt {attempts} of {claim.job.max_attempts} failed: {error}"
            job = self.fail(claim, message, hop, ending=ending)
            return FailureOutcome(will_retry=False, job=job)
        m = self.model
        actions = [
            *self._release_actions(claim, hop),
            *self._status(claim.lease.job_id, JobStatus.QUEUED),
            m.attempts.set(attempts),
            m.last_error.set(_cut(f"attempt {attempts} of {claim.job.max_attempts}: {error}")),
        ]
        job = self._commit("release", claim, actions, NO_STATE)
        return FailureOutcome(will_retry=True, job=job)

    def will_fail_on_error(self, claim: Claim) -> bool:
        """Whether one more failed attempt ends the job (so its report should be written)."""
        self._settle_pending(claim)
        return claim.job.attempts + 1 >= claim.job.max_attempts

    def _settle_pending(self, claim: Claim) -> None:
        """Before counting a failed attempt: a write of this holder's of unknown outcome (a
        checkpoint, which resets `attempts`) may have landed. Read the item once; when it
        carries that write's token, the write is applied (as `_commit` would have taken it)
        and attempts count from the item, not from the job as claimed. Unreadable, or not
        landed: the count stays as it was."""
        if not claim.pending:
            return
        lease = claim.lease
        try:
            item = self.writer.read(lease.job_id)
        except Exception:
            return
        if item is None or item.last_write not in claim.pending:
            return
        if item.epoch != lease.epoch or item.lease_owner != lease.owner:
            return
        token = str(item.last_write)
        self._audit(claim.pending[token], lease.job_id, lease.epoch, lease.owner, self._now())
        job = self._to_job(item)
        claim.version = token
        claim.pending.clear()
        superseded, claim.committed_ref = claim.committed_ref, job.state_ref
        if superseded is not None and superseded != job.state_ref:
            self.codec.discard(superseded)
        claim.job = job

    def stop(
        self,
        claim: Claim,
        status: JobStatus,
        hop: HopEnd,
        ending: Ending | None = None,
    ) -> Job:
        """Honour an operator's request: PAUSED (resumable) or CANCELLED (final).

        The state is left as last committed: the holder stops only right after a commit (or at
        its claim), so there is nothing newer to save.
        """
        if status not in (JobStatus.PAUSED, JobStatus.CANCELLED):
            raise ValueError(f"stop takes PAUSED or CANCELLED, not {status}")
        m = self.model
        op = status.value.lower()
        actions = [
            *self._release_actions(claim, hop),
            *self._status(claim.lease.job_id, status),
            m.pause_requested.remove(),
            # A cancel that landed after the holder read the pause stays on the PAUSED item:
            # it outranks the pause, and the next touch (cancel, resume, claim) honours it.
            *([m.cancel_requested.remove()] if status is JobStatus.CANCELLED else []),
        ]
        if status is JobStatus.CANCELLED:
            actions.extend(self._terminal_actions(ending))
        return self._commit(op, claim, actions, NO_STATE)

    # ----------------------------------------------------------------- operator requests

    def request_cancel(self, job_id: str) -> Job:
        """Cancel now when nobody holds the job, else ask the holder to stop at its next commit."""
        return self._request(job_id, JobStatus.CANCELLED)

    def request_pause(self, job_id: str, *, cascaded: bool = False) -> Job:
        """Pause now when nobody holds the job, else ask the holder to stop at its next commit.

        `cascaded`: the pause is a fan-out parent's, passed on to its shard (the parent resumes
        the shard when it runs again). A pause by name (False) marks the shard as the
        operator's own, even one its parent's cascade had paused already.
        """
        return self._request(job_id, JobStatus.PAUSED, cascaded)

    def settle_requests(self, job: Job) -> Job | None:
        """After a hand-off that saw a request: apply it to the QUEUED job before anyone claims.

        A job that has ended meanwhile keeps its end: a holder may finish without seeing a
        cancel flagged during its last step, and the flag must not turn SUCCEEDED into CANCELLED.
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
        """
        job = self.get(job_id)
        now = self._now()
        reopening = reopen and job.status is JobStatus.CANCELLED and job.parent_id is not None
        if job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED) and not reopening:
            how = ""
            if job.status is JobStatus.CANCELLED and job.parent_id is not None:
                how = (
                    f"; it is a shard of {job.parent_id}: `baton resume {job.parent_id} "
                    f"--rerun-cancelled` runs it again from its last cursor"
                )
            raise IllegalTransition(
                f"job {job_id!r} is {job.status.value}; it cannot be resumed{how}"
            )
        if cascaded_only and not (job.status is JobStatus.PAUSED and job.pause_cascaded):
            raise IllegalTransition(f"job {job_id!r} is not paused by its parent's cascade")
        grace = self.skew_ms if force else 0
        if job.lease_alive(now + grace):
            deadline = iso_from_ms((job.lease_expires_ms or 0) - self.skew_ms)
            why = (
                "its holder's lease term has not run out, so it may still be running"
                if force
                else f"resume refuses a live lease; a forced resume takes it once its term ends "
                f"at {deadline} without a renewal"
            )
            raise LiveLease(
                f"job {job_id!r} is running: invocation {job.lease_owner} holds it until "
                f"{iso_from_ms(job.lease_expires_ms or 0)}; {why}",
                job_id=job_id,
                forced=force,
                force_after=deadline,
            )
        new_max = max_hops if max_hops is not None else job.max_hops
        if job.hops >= new_max:
            raise IllegalTransition(
                f"job {job_id!r} has used {job.hops} of {new_max} hops; resume with a higher "
                f"max_hops"
            )
        m = self.model
        actions = [*self._rearm_actions(job, now), m.max_hops.set(new_max)]
        condition = self._unheld(job, now + grace)
        if cascaded_only:
            # An operator's pause by name in between takes the shard back from its parent.
            condition = condition & (m.pause_cascaded == True)  # noqa: E712
        if reopening:
            actions.append(m.cancel_requested.remove())
        try:
            item = self._conditional(job.job_id, actions, condition)
        except ChangedMeanwhile:
            raise IllegalTransition(
                f"job {job_id!r} changed while resuming; look at it again and retry",
                job_id=job_id,
                epoch=job.epoch,
            ) from None
        self._audit("resume", job_id, job.epoch + 1, None, now)
        return self._to_job(item)

    # ----------------------------------------------------------------- reads for operators

    def list_jobs(
        self,
        status: JobStatus,
        *,
        limit: int = 50,
        start_key: dict[str, Any] | None = None,
        updated_before: str | None = None,
    ) -> tuple[list[Job], dict[str, Any] | None]:
        """Jobs in one status through the by-status index, newest first, a page at a time.

        The status is spread over STATUS_SHARDS index keys: every shard is queried for up to
        `limit` jobs below the page's start, and the newest `limit` of them form the page. The
        next page's key is the last job's (updated_at, job_id), so jobs updated in the same
        millisecond are neither repeated nor skipped. The index holds the readable attributes
        only (no state, no parameters).
        """
        after = _ListCursor.read(start_key)
        found: list[tuple[str, str, JobModel]] = []
        for shard in status_shards(status.value):
            found.extend(self._newest_in_shard(shard, limit, after, updated_before))
        found.sort(key=lambda entry: (entry[0], entry[1]), reverse=True)
        page, more = found[:limit], len(found) > limit
        jobs = []
        for _, _, item in page:
            try:
                jobs.append(self._to_job(item))
            except CorruptItem:
                continue  # `baton status` on it explains; one bad item must not hide the rest
        last = page[-1] if more and page else None
        return jobs, ({"updated_at": last[0], "job_id": last[1]} if last else None)

    def every_job(self, status: JobStatus, *, updated_before: str | None = None) -> list[Job]:
        """Every job in `status` (optionally idle since `updated_before`), every shard of the
        index read once to its end: what a sweep over all of them needs, without the re-reads a
        merged, paged listing costs (each of its pages queries every shard again)."""
        m = self.model
        condition = m.updated_at < updated_before if updated_before else None
        jobs: list[Job] = []
        for shard in status_shards(status.value):
            for item in m.by_status.query(
                shard, range_key_condition=condition, page_size=SWEEP_PAGE
            ):
                try:
                    jobs.append(self._to_job(item))
                except CorruptItem:
                    continue  # `baton status` on it explains; one bad item must not hide the rest
        return jobs

    def _newest_in_shard(
        self,
        shard: str,
        limit: int,
        after: _ListCursor | None,
        updated_before: str | None,
    ) -> list[tuple[str, str, JobModel]]:
        """Up to `limit` entries of one index shard older than `after` (and `updated_before`),
        newest first, plus any that share the last one's updated_at (ties are ordered by job id
        only after the merge, so none may be left behind)."""
        m = self.model
        condition = None
        if after is not None and (updated_before is None or after.updated_at < updated_before):
            condition = m.updated_at <= after.updated_at
        elif updated_before is not None:
            condition = m.updated_at < updated_before
        results = m.by_status.query(
            shard, range_key_condition=condition, scan_index_forward=False, page_size=limit
        )
        out: list[tuple[str, str, JobModel]] = []
        for item in results:
            entry = (str(item.updated_at), str(item.job_id), item)
            if after is not None and (entry[0], entry[1]) >= (after.updated_at, after.job_id):
                continue
            if len(out) >= limit and entry[0] != out[-1][0]:
                break
            out.append(entry)
        return out

    # ----------------------------------------------------------------- watchdog

    def nudge(self, job: Job) -> Job:
        """Count a watchdog re-send of a QUEUED job's event; refused if anything moved since."""
        m = self.model
        now = self._now()
        condition = (
            (m.epoch == job.epoch)
            & (m.status == JobStatus.QUEUED.value)
            & m.lease_owner.does_not_exist()
            & (m.updated_at == job.updated_at)
        )
        actions: list[Action] = [
            m.restarts.set(job.restarts + 1),
            m.updated_at.set(iso_from_ms(now)),
        ]
        item = self._conditional(job.job_id, actions, condition)
        self._audit("nudge", job.job_id, job.epoch, None, now)
        return self._to_job(item)

    def rearm(self, job: Job) -> Job:
        """Re-arm a RUNNING job whose holder died (lease expired) at a new epoch."""
        now = self._now()
        actions = self._rearm_actions(job, now, restarts=job.restarts + 1)
        item = self._conditional(job.job_id, actions, self._unheld(job, now))
        self._audit("rearm", job.job_id, job.epoch + 1, None, now)
        return self._to_job(item)

    def fail_stalled(self, job: Job, reason: str) -> Job:
        """End a job the watchdog could not revive; resumable by an operator later."""
        now = self._now()
        actions = self._failed_unheld_actions(job.job_id, f"stalled: {reason}", now)
        item = self._conditional(job.job_id, actions, self._unheld(job, now))
        self._audit("fail", job.job_id, job.epoch, None, now)
        return self._to_job(item)

    def _failed_unheld_actions(
        self, job_id: str, error: str, now: int, *, terminal: bool = True
    ) -> list[Action]:
        """FAILED with `error` and no lease: how the watchdog and the claim path end a job that
        no holder can end itself."""
        m = self.model
        actions: list[Action] = [
            *self._status(job_id, JobStatus.FAILED),
            m.last_error.set(_cut(error)),
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            m.waiting_for.remove(),
            m.updated_at.set(iso_from_ms(now)),
        ]
        return actions + (self._terminal_actions(failed=True) if terminal else [])

    def _status(self, job_id: str, status: JobStatus) -> list[Action]:
        """Set the job's status and, with it, its by-status index key (every write that sets a
        status goes through here, so the two never disagree)."""
        m = self.model
        return [m.status.set(status.value), m.status_shard.set(status_shard(job_id, status.value))]

    def _rearm_actions(self, job: Job, now: int, restarts: int | None = None) -> list[Action]:
        """A new epoch, QUEUED and unheld; `restarts` counts watchdog restarts (None clears it)."""
        m = self.model
        return [
            *self._status(job.job_id, JobStatus.QUEUED),
            m.epoch.set(job.epoch + 1),
            m.attempts.set(0),
            m.restarts.remove() if restarts is None else m.restarts.set(restarts),
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            # An operator's request survives a watchdog re-arm (the next claim honours it); a
            # resume is itself a newer request than a pause, never than a cancel.
            *([m.pause_requested.remove(), m.pause_cascaded.remove()] if restarts is None else []),
            m.finished_at.remove(),
            m.expires_at.remove(),
            m.waiting_for.remove(),  # its event is sent now: the job is no longer parked
            m.updated_at.set(iso_from_ms(now)),
        ]

    def _conditional(
        self,
        job_id: str,
        actions: Sequence[Action],
        condition: Condition,
        *,
        token: bool = True,
    ) -> JobModel:
        """One conditional update by someone who does not hold the lease; refused raises
        ChangedMeanwhile. Without a token the write must be idempotent under its condition."""
        outcome = self.writer.update(
            job_id, list(actions), condition, new_token() if token else None
        )
        if isinstance(outcome, Refused):
            raise ChangedMeanwhile(
                f"job {job_id!r} changed meanwhile; look at it again and retry", job_id=job_id
            )
        return outcome.item

    # ----------------------------------------------------------------- internals

    def _now(self) -> int:
        return self.clock.now_ms()

    def _audit(
        self,
        op: str,
        job_id: str,
        epoch: int,
        owner: str | None,
        at_ms: int,
        lease_expires_ms: int | None = None,
    ) -> None:
        """Tell the audit hook (tests' I1/I2 ledger) of a write that landed; no-op without one."""
        if self.audit is not None:
            self.audit(CommitEvent(op, job_id, epoch, owner, at_ms, lease_expires_ms))

    def _held(self, claim: Claim) -> Condition:
        """The holder's fence: its epoch, its lease, and the chain of its own writes."""
        m = self.model
        lease = claim.lease
        condition: Condition = (
            (m.epoch == lease.epoch)
            & (m.lease_owner == lease.owner)
            & m.last_write.is_in(claim.version, *claim.pending)
        )
        return condition

    def _commit(
        self,
        op: str,
        claim: Claim,
        actions: Sequence[Action],
        written: StateRef | _NoState | None,
        *,
        lease_expires_ms: int | None = None,
    ) -> Job:
        """One write by the lease holder, fenced by `_held`.

        `written` is the state object this write points to (None when the state went inline,
        NO_STATE when the write leaves the state alone). Applied (also when an earlier attempt
        of this call landed and its answer was lost): the object it superseded is deleted.
        Refused: `LeaseLost`, and nothing is deleted (the object just written leaks to the
        lifecycle rule; deleting it is safe only if no attempt of this write can ever land, which
        no client can know). Unknown: `WriteUnknown`, nothing deleted, and the next write of this
        holder accepts either version.
        """
        lease = claim.lease
        token = new_token()
        try:
            outcome = self.writer.update(lease.job_id, list(actions), self._held(claim), token)
        except WriteUnknown:
            claim.pending[token] = op
            raise
        if isinstance(outcome, Refused):
            item = outcome.item
            own = item is not None and item.last_write in claim.pending
            if own and item is not None:
                landed_op = claim.pending[str(item.last_write)]
                self._audit(landed_op, lease.job_id, lease.epoch, lease.owner, self._now())
            raise LeaseLost(
                f"job {lease.job_id!r} epoch {lease.epoch}: {lease.owner} no longer holds the "
                f"lease ({op} refused{'; an earlier write of its own landed' if own else ''})",
                job_id=lease.job_id,
                epoch=lease.epoch,
                landed=self._to_job(item) if own and item is not None else None,
            )
        claim.version = token
        claim.pending.clear()
        self._audit(op, lease.job_id, lease.epoch, lease.owner, self._now(), lease_expires_ms)
        if not isinstance(written, _NoState):
            superseded = claim.committed_ref
            claim.committed_ref = written
            if superseded is not None and superseded != written:
                self.codec.discard(superseded)
        return self._to_job(outcome.item)

    def _progress_actions(
        self, claim: Claim, progress: Progress, op: str
    ) -> tuple[list[Action], StateRef | None]:
        """The state (inline, or written to S3 now) and the counters, for one commit."""
        m = self.model
        check_counters(claim.lease.job_id, progress.counters)
        encoded = self.codec.encode(claim.lease.job_id, claim.lease.epoch, progress.state)
        if encoded.ref is not None and self.fault_hook is not None:
            self.fault_hook(f"state_written:{op}")
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

    def _release_actions(self, claim: Claim, hop: HopEnd) -> list[Action]:
        m = self.model
        now = self._now()
        record = HopRecord(
            hop=claim.job.hops,
            epoch=claim.lease.epoch,
            owner=claim.lease.owner,
            started_at=iso_from_ms(claim.lease.started_ms),
            ended_at=iso_from_ms(now),
            items=hop.items,
            ended_by=hop.ended_by,
        )
        kept = [*claim.job.recent_hops, record][-RECENT_HOPS_KEPT:]
        return [
            m.lease_owner.remove(),
            m.lease_expires_ms.remove(),
            m.recent_hops.set([HopAttribute(**h.to_dict()) for h in kept]),
            m.updated_at.set(iso_from_ms(now)),
        ]

    def _terminal_actions(
        self, ending: Ending | None = None, *, failed: bool = False
    ) -> list[Action]:
        """The end stamp and TTL; a FAILED job stays resumable FAILED_RETENTION_DAYS at least."""
        m = self.model
        now = self._now()
        days = max(self.retention_days, FAILED_RETENTION_DAYS) if failed else self.retention_days
        expires = datetime.fromtimestamp(now / 1000, tz=UTC) + timedelta(days=days)
        actions: list[Action] = [m.finished_at.set(iso_from_ms(now)), m.expires_at.set(expires)]
        if ending is not None and ending.summary:
            encoded = to_json_bytes(ending.summary)
            if len(encoded) > SUMMARY_LIMIT_BYTES:
                note = f"summary of {len(encoded):,} bytes is over the item budget; see the report"
                encoded = to_json_bytes({"note": note})
            actions.append(m.summary.set(json.loads(encoded)))
        if ending is not None and ending.report_ref:
            actions.append(m.report_ref.set(dict(ending.report_ref)))
        return actions

    def _launching(self, lease: Lease) -> Condition:
        """A fan-out parent may start a shard: still held by `lease`, and no cancel or pause
        request on it (an operator's flag is set without a token, so the holder's fence alone
        would not see it)."""
        m = self.model
        condition: Condition = (
            (m.epoch == lease.epoch)
            & (m.lease_owner == lease.owner)
            & (m.status == JobStatus.RUNNING.value)
            & (m.cancel_requested.does_not_exist() | (m.cancel_requested == False))  # noqa: E712
            & (m.pause_requested.does_not_exist() | (m.pause_requested == False))  # noqa: E712
        )
        return condition

    def _after(self, seen: JobModel | None) -> Condition:
        """The item's last tokened write is still the one `seen` carries."""
        m = self.model
        if seen is None or seen.last_write is None:
            return m.last_write.does_not_exist()
        condition: Condition = m.last_write == seen.last_write
        return condition

    def _unheld(self, job: Job, now: int) -> Condition:
        """The item is as read (epoch, status) and no live invocation holds it.

        `now` may include a grace period: resume --force passes now + clock skew.
        """
        m = self.model
        condition: Condition = (
            (m.epoch == job.epoch)
            & (m.status == job.status.value)
            & (m.lease_owner.does_not_exist() | (m.lease_expires_ms < now))
        )
        return condition

    def _request(self, job_id: str, target: JobStatus, cascaded: bool = False) -> Job:
        asked = False
        for _ in range(OPERATOR_RETRIES):
            job = self.get(job_id)
            now = self._now()
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
        now = self._now()
        actions: list[Action] = [
            *self._status(job.job_id, target),
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
            actions.extend(self._terminal_actions())
        item = self._conditional(job.job_id, actions, self._unheld(job, now))
        self._audit(target.value.lower(), job.job_id, job.epoch, None, now)
        return self._to_job(item)

    def _flag(self, job: Job, target: JobStatus, cascaded: bool = False) -> Job:
        m = self.model
        flag = m.cancel_requested if target is JobStatus.CANCELLED else m.pause_requested
        condition = (
            (m.epoch == job.epoch)
            & (m.status == JobStatus.RUNNING.value)
            & (m.lease_owner == job.lease_owner)
        )
        # No token: setting the flag again is harmless, and leaving `last_write` alone keeps the
        # holder's chain of writes intact.
        actions = [flag.set(True), m.updated_at.set(iso_from_ms(self._now()))]
        if target is JobStatus.PAUSED:
            actions.append(m.pause_cascaded.set(True) if cascaded else m.pause_cascaded.remove())
        item = self._conditional(job.job_id, actions, condition, token=False)
        return self._to_job(item)

    def _own_pause(self, job: Job) -> Job:
        """An operator pauses by name a shard its parent's cascade paused: it becomes theirs (the
        parent no longer resumes it). No token: idempotent, like a flag."""
        m = self.model
        condition = (
            (m.epoch == job.epoch)
            & (m.status == JobStatus.PAUSED.value)
            & (m.pause_cascaded == True)  # noqa: E712
        )
        actions = [m.pause_cascaded.remove(), m.updated_at.set(iso_from_ms(self._now()))]
        return self._to_job(self._conditional(job.job_id, actions, condition, token=False))

    def _classify(self, item: JobModel | None, epoch: int) -> ClaimRejected:
        """Why a claim was refused, from the item as read back after the refusal."""
        job = None if item is None else self._to_job(item)
        now = self._now()
        if job is None:
            return ClaimRejected(RejectReason.NOT_FOUND)
        if job.epoch > epoch:
            reason = RejectReason.STALE_EPOCH
        elif job.epoch < epoch:
            reason = RejectReason.FUTURE_EPOCH
        elif job.status.terminal:
            reason = RejectReason.TERMINAL
        elif job.status is JobStatus.PAUSED:
            reason = RejectReason.PAUSED
        elif job.lease_alive(now):
            reason = RejectReason.LEASE_HELD  # its holder, not this event, ends an exhausted job
        elif job.hops >= job.max_hops:
            reason = RejectReason.HOPS_EXHAUSTED
        else:
            reason = RejectReason.CONTENDED
        return ClaimRejected(reason, job)

    def fail_corrupt(self, job_id: str, reason: str) -> bool:
        """End a job whose item cannot be read as a job: FAILED with the reason, lease dropped.

        Unconditional but for the item's existence: the attributes a condition would test are
        the ones that are broken. True when the item was marked.
        """
        m = self.model
        now = self._now()
        actions = self._failed_unheld_actions(
            job_id, f"corrupt item: {reason}", now, terminal=False
        )
        try:
            self._conditional(job_id, actions, m.job_id.exists())
        except (ChangedMeanwhile, WriteUnknown):
            return False
        except CorruptItem:
            pass  # written; only reading back the (still malformed) item failed
        self._audit("fail", job_id, 0, None, now)
        return True

    def fail_exhausted(self, job: Job) -> Job | None:
        """A job whose next claim would exceed max_hops ends FAILED (none of its hops ran)."""
        m = self.model
        now = self._now()
        error = max_hops_reached(job.max_hops)
        if job.attempts and job.last_error:
            # The last hop failed and was released for a retry that has no hop left: its error
            # is why the job stopped, and what to fix before resuming with more hops.
            error = f"{error}; the last hop had failed: {job.last_error}"
        actions = self._failed_unheld_actions(job.job_id, error, now)
        condition = self._unheld(job, now) & (m.hops >= m.max_hops)
        try:
            item = self._conditional(job.job_id, actions, condition)
        except ChangedMeanwhile:
            return None
        self._audit("fail", job.job_id, job.epoch, None, now)
        return self._to_job(item)

    def _to_job(self, item: JobModel) -> Job:
        try:
            return job_from_item(item)
        except (ValueError, TypeError, KeyError, AttributeError, StateCorrupt) as exc:
            raise CorruptItem(
                f"job item {getattr(item, 'job_id', '?')!r} is malformed "
                f"({type(exc).__name__}: {exc}); fix or delete it in the table"
            ) from exc


@dataclass(frozen=True)
class _ListCursor:
    """Where a page of `list_jobs` starts: after this job, in (updated_at, job_id) order."""

    updated_at: str
    job_id: str

    @classmethod
    def read(cls, key: dict[str, Any] | None) -> _ListCursor | None:
        if not key:
            return None
        updated_at, job_id = key.get("updated_at"), key.get("job_id")
        if not isinstance(updated_at, str) or not isinstance(job_id, str):
            raise InvalidJob("the page token is not one `list_jobs` returned")
        return cls(updated_at, job_id)


# Index entries read per Query page by `every_job`.
SWEEP_PAGE = 500


class _NoState:
    """Marks a commit that leaves the state as it is (a released attempt, a stop)."""


NO_STATE = _NoState()
