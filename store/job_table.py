"""The jobs table and what every writer of it shares.

`JobTable` holds the model, the clock, the state codec and the audit sink, and the pieces every
role's writes are made of: reading and decoding an item, a status set together with its index
key, the end stamp and TTL, a re-armed epoch, and the conditional write of someone who holds no
lease. The roles build on it: the job store (store/job_store.py: reads, create, claim), the
operator's requests (store/operator_requests.py), the writes that recover a job no holder moves
(store/recovery.py), and the lease holder's writes (store/lease_holder.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from baton.store import status_index
from baton.store.audit import AuditSink, CommitEvent, FaultHook
from baton.store.clock import Clock, SystemClock, iso_from_ms
from baton.store.codec import StateCodec, to_json_bytes
from baton.store.constants import (
    CLOCK_SKEW_MS,
    DEFAULT_RETENTION_DAYS,
    FAILED_RETENTION_DAYS,
    LEASE_TERM_MS,
    SUMMARY_LIMIT_BYTES,
)
from baton.store.errors import ChangedMeanwhile, CorruptItem, JobNotFound, StateCorrupt
from baton.store.mapping import job_from_item
from baton.store.model import JobModel, status_shard
from baton.store.records import Ending, Job, JobStatus
from baton.store.writes import Refused, Writer, new_token


class JobTable:
    """One jobs table: its model and clock, and the building blocks of every role's writes."""

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

    @property
    def table_name(self) -> str:
        return str(self.model.Meta.table_name)

    # ----------------------------------------------------------------- table

    def ensure_table(self) -> bool:
        """Create the jobs table (and its TTL) if missing; True when it was created.

        Raises:
            pynamodb.exceptions.TableError: DynamoDB refused to describe or create the table.
        """
        if self.model.exists():
            return False
        self.model.create_table(wait=True)
        self.model.update_ttl(ignore_update_ttl_errors=True)
        return True

    def backfill_status_index(self) -> int:
        """Give items written before the sharded by-status index their index key (an upgrade
        step, see store/status_index.py); how many items were given one.

        Raises:
            pynamodb.exceptions.PynamoDBException: the scan or a write failed; run it again
                (each item is given its key by a write of its own: the work done is kept).
        """
        return status_index.backfill(self.model)

    # ----------------------------------------------------------------- reads

    def get(self, job_id: str) -> Job:
        """The job, read consistently.

        Raises:
            JobNotFound: no item with this id.
            CorruptItem: the item cannot be read as a job.
        """
        try:
            item = self.model.get(job_id, consistent_read=True)
        except DoesNotExist:
            raise JobNotFound(job_id) from None
        except (ValueError, TypeError) as exc:
            raise CorruptItem(
                f"job item {job_id!r} is malformed ({type(exc).__name__}: {exc}); fix or delete it"
            ) from exc
        return self.to_job(item)

    def find(self, job_id: str) -> Job | None:
        """The job, or None when there is no item with this id.

        Raises:
            CorruptItem: the item cannot be read as a job.
        """
        try:
            return self.get(job_id)
        except JobNotFound:
            return None

    def get_many(self, job_ids: list[str]) -> list[Job]:
        """Several jobs in one BatchGetItem per 100 (consistent); missing ids are left out.

        Raises:
            CorruptItem: one of the items cannot be read as a job.
        """
        if not job_ids:
            return []
        items = self.model.batch_get(job_ids, consistent_read=True)
        return [self.to_job(item) for item in items]

    def load_state(self, job: Job) -> Any:
        """The task state the job's last commit wrote (verified if spilled); None before any.

        Raises:
            StateCorrupt: the state cannot be decoded, or its object is missing or altered.
        """
        return self.codec.load(job.state_blob, job.state_ref, job.state_codec)

    def to_job(self, item: JobModel) -> Job:
        """The item decoded.

        Raises:
            CorruptItem: an attribute has the wrong type or value.
        """
        try:
            return job_from_item(item)
        except (ValueError, TypeError, KeyError, AttributeError, StateCorrupt) as exc:
            raise CorruptItem(
                f"job item {getattr(item, 'job_id', '?')!r} is malformed "
                f"({type(exc).__name__}: {exc}); fix or delete it in the table"
            ) from exc

    # ----------------------------------------------------------------- what writes share

    def now(self) -> int:
        return self.clock.now_ms()

    def lease_until(self, now_ms: int, deadline_ms: int) -> int:
        """When a lease taken or renewed at `now_ms` expires: one lease term later, never past
        the holder's deadline (Lambda has killed it by then), plus the clock-skew margin."""
        return min(now_ms + self.lease_ms, deadline_ms) + self.skew_ms

    def record(
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

    def status_actions(self, job_id: str, status: JobStatus) -> list[Action]:
        """Set the job's status and, with it, its by-status index key (every write that sets a
        status goes through here, so the two never disagree)."""
        m = self.model
        return [m.status.set(status.value), m.status_shard.set(status_shard(job_id, status.value))]

    def terminal_actions(
        self, ending: Ending | None = None, *, failed: bool = False
    ) -> list[Action]:
        """The end stamp and TTL; a FAILED job stays resumable FAILED_RETENTION_DAYS at least."""
        m = self.model
        now = self.now()
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

    def rearm_actions(self, job: Job, now: int, restarts: int | None = None) -> list[Action]:
        """A new epoch, QUEUED and unheld; `restarts` counts watchdog restarts (None clears it)."""
        m = self.model
        return [
            *self.status_actions(job.job_id, JobStatus.QUEUED),
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

    def conditional(
        self,
        job_id: str,
        actions: Sequence[Action],
        condition: Condition,
        *,
        token: bool = True,
    ) -> JobModel:
        """One conditional update by someone who does not hold the lease. Without a token the
        write must be idempotent under its condition.

        Raises:
            ChangedMeanwhile: refused, the item is not as the condition says.
            WriteUnknown: the outcome is unknown; the write may still land.
            CorruptItem: DynamoDB rejected the write or the item read back is malformed.
        """
        outcome = self.writer.update(
            job_id, list(actions), condition, new_token() if token else None
        )
        if isinstance(outcome, Refused):
            raise ChangedMeanwhile(
                f"job {job_id!r} changed meanwhile; look at it again and retry", job_id=job_id
            )
        return outcome.item
