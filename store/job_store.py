"""The job store: every operation of the hand-off protocol over one jobs table.

`JobStore` is the one object callers hold. It reads jobs, creates them and claims them; a claim
returns the `LeaseHolder` (store/lease_holder.py) that makes the holder's writes. The operator's
requests (store/operator_requests.py) and the writes that recover a job no holder moves
(store/recovery.py) are its roles too, each in its own module; every condition they write under
is in store/conditions.py, tabled with what a late copy of each write does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
from pynamodb.expressions.update import Action

from baton.store import conditions, hop_limit
from baton.store.clock import Clock, iso_from_ms
from baton.store.codec import StateCodec, to_json_bytes
from baton.store.config import StoreSettings, dynamodb_endpoint, resolve_region
from baton.store.constants import CLAIM_TRIES, PARAMS_LIMIT_BYTES
from baton.store.errors import CorruptItem, InvalidJob, JobConflict, ParentStopped, WriteUnknown
from baton.store.lease_holder import LeaseHolder
from baton.store.model import JobModel, bind_job_model, status_shard, status_shards
from baton.store.operator_requests import OperatorRequests
from baton.store.records import ClaimRejected, Job, JobSpec, JobStatus, Lease, RejectReason
from baton.store.recovery import RecoveryWrites
from baton.store.writes import GuardRefused, Outcome, Refused, new_token

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Index entries read per Query page by `every_job`.
SWEEP_PAGE = 500


class JobStore(OperatorRequests, RecoveryWrites):
    """The protocol operations over one jobs table."""

    # What a successful claim returns (the simulator plants holders with broken writes here).
    holder_cls: ClassVar[type[LeaseHolder]] = LeaseHolder

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
        needs no S3 client.

        Raises:
            ConfigError: no AWS region is configured (AWS_REGION, a profile).
        """
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

    # ----------------------------------------------------------------- create

    def create(self, spec: JobSpec, *, under: Lease | None = None) -> tuple[Job, bool]:
        """Create a QUEUED job at epoch 1; an identical existing job is returned, not re-created
        (the flag says whether this call created it).

        `under`: the lease of the fan-out parent creating this shard. The create is then one
        transaction with a check that the parent is still held by that lease and carries no
        cancel or pause request: a shard is never created after an operator's request on its
        parent was accepted (`ParentStopped` instead).

        Raises:
            InvalidJob: the parameters are over PARAMS_LIMIT_BYTES (nothing written).
            JobConflict: a job with this id exists with another task or parameters.
            ParentStopped: `under` no longer holds the parent, or a request is on it.
            WriteUnknown: the outcome is unknown; creating again is safe (same id, same job).
        """
        params_json = to_json_bytes(spec.params)
        if len(params_json) > PARAMS_LIMIT_BYTES:
            raise InvalidJob(
                f"job parameters are {len(params_json):,} bytes, over the limit of "
                f"{PARAMS_LIMIT_BYTES:,}; put large inputs in S3 and pass their location"
            )
        now = self.now()
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
        outcome = self._put_new(item, spec, under)
        if isinstance(outcome, Refused):
            if outcome.item is None:
                raise WriteUnknown(
                    f"job {spec.job_id!r} could not be created and cannot be read; try again",
                    job_id=spec.job_id,
                )
            existing = self.to_job(outcome.item)
            same = existing.task == spec.task and to_json_bytes(existing.params) == params_json
            if not same:
                raise JobConflict(
                    f"job {spec.job_id!r} exists already with task {existing.task!r} and other "
                    f"parameters",
                    job_id=spec.job_id,
                )
            return existing, False
        self.record("create", spec.job_id, 1, None, now)
        return self.get(spec.job_id), True

    def _put_new(self, item: JobModel, spec: JobSpec, under: Lease | None) -> Outcome:
        """The create's write: alone, or guarded by the launching parent's lease."""
        m = self.model
        if under is None:
            return self.writer.put(item, conditions.item_not_exist(m), new_token())
        guarded = self.writer.put_guarded(
            item,
            conditions.item_not_exist(m),
            new_token(),
            under.job_id,
            conditions.launching(m, under),
        )
        if isinstance(guarded, GuardRefused):
            existing = None if guarded.item is None else self.to_job(guarded.item)
            raise ParentStopped(
                f"shard {spec.job_id!r} not started: its parent {under.job_id!r} has an "
                f"operator's request on it or is no longer held by {under.owner}",
                job_id=under.job_id,
                existing=existing,
            )
        return guarded

    # ----------------------------------------------------------------- claim

    def claim(
        self, job_id: str, epoch: int, owner: str, deadline_ms: int
    ) -> LeaseHolder | ClaimRejected:
        """Take the lease on epoch `epoch` for one lease term (to the holder's deadline at most)
        plus the clock skew; the holder's checkpoints renew it (`lease_until`). A refusal is
        returned, classified from the item as read back (`ClaimRejected`), never raised.

        Raises:
            WriteUnknown: the claim's outcome is unknown (Lambda's retry claims again; a claim
                that landed meanwhile is refused as held, and its lease expires).
            CorruptItem: the item cannot be read as a job.
        """
        m = self.model
        for _ in range(CLAIM_TRIES):
            # The claim is chained like the holder's writes: it names the last write it saw on
            # the item, so a copy of it that lands late (after the hop's own writes, or after its
            # release) finds another `last_write` and is refused instead of claiming again.
            seen = self.writer.read(job_id)
            if seen is None:
                return ClaimRejected(RejectReason.NOT_FOUND)
            now = self.now()
            token = new_token()
            condition = conditions.claimable(m, epoch, now, seen)
            expires = self.lease_until(now, deadline_ms)
            stamp = iso_from_ms(now)
            actions: list[Action] = [
                *self.status_actions(job_id, JobStatus.RUNNING),
                m.lease_owner.set(owner),
                m.lease_expires_ms.set(expires),
                hop_limit.count_hop(m),
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
        self.record("claim", job_id, epoch, owner, now, expires)
        lease = Lease(
            job_id=job_id,
            epoch=epoch,
            owner=owner,
            expires_ms=expires,
            started_ms=now,
            deadline_ms=deadline_ms,
        )
        return self.holder_cls(self, lease, self.to_job(outcome.item), token)

    def _classify(self, item: JobModel | None, epoch: int) -> ClaimRejected:
        """Why a claim was refused, from the item as read back after the refusal.

        Raises:
            CorruptItem: the item cannot be read as a job.
        """
        job = None if item is None else self.to_job(item)
        now = self.now()
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
        elif hop_limit.out_of_hops(job):
            reason = RejectReason.HOPS_EXHAUSTED
        else:
            reason = RejectReason.CONTENDED
        return ClaimRejected(reason, job)

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
        only (no state, no parameters). A malformed item is left out.

        Raises:
            InvalidJob: `start_key` is not a key this method returned.
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
                jobs.append(self.to_job(item))
            except CorruptItem:
                continue  # `baton status` on it explains; one bad item must not hide the rest
        last = page[-1] if more and page else None
        return jobs, ({"updated_at": last[0], "job_id": last[1]} if last else None)

    def every_job(self, status: JobStatus, *, updated_before: str | None = None) -> list[Job]:
        """Every job in `status` (optionally idle since `updated_before`), every shard of the
        index read once to its end: what a sweep over all of them needs, without the re-reads a
        merged, paged listing costs (each of its pages queries every shard again). A malformed
        item is left out; raises nothing of its own."""
        m = self.model
        condition = m.updated_at < updated_before if updated_before else None
        jobs: list[Job] = []
        for shard in status_shards(status.value):
            for item in m.by_status.query(
                shard, range_key_condition=condition, page_size=SWEEP_PAGE
            ):
                try:
                    jobs.append(self.to_job(item))
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
