"""Plain record types the protocol operations take and return, free of pynamodb."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from baton.store.codec import StateRef

Counters = dict[str, int]


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class RejectReason(StrEnum):
    """Why a claim was refused; each is logged and counted, none is retried by Lambda."""

    NOT_FOUND = "not_found"
    STALE_EPOCH = "stale_epoch"
    FUTURE_EPOCH = "future_epoch"
    TERMINAL = "terminal"
    PAUSED = "paused"
    HOPS_EXHAUSTED = "hops_exhausted"
    LEASE_HELD = "lease_held"
    CONTENDED = "contended"


@dataclass(frozen=True)
class JobSpec:
    """What `create` needs: the task, its validated parameters and the guards."""

    job_id: str
    task: str
    params: dict[str, Any]
    max_hops: int
    max_attempts: int
    parent_id: str | None = None


@dataclass(frozen=True)
class HopRecord:
    """One line of the job's timeline."""

    hop: int
    epoch: int
    owner: str
    started_at: str
    ended_at: str
    items: int
    ended_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """A snapshot of the job item, decoded; `state` is None until the task has started."""

    job_id: str
    status: JobStatus
    epoch: int
    task: str
    params: dict[str, Any]
    counters: Counters
    hops: int
    max_hops: int
    attempts: int
    max_attempts: int
    created_at: str
    updated_at: str
    state_blob: bytes | None = field(default=None, repr=False)
    state_codec: str | None = None
    state_ref: StateRef | None = None
    state_size: int = 0
    lease_owner: str | None = None
    lease_expires_ms: int | None = None
    last_error: str | None = None
    cancel_requested: bool = False
    pause_requested: bool = False
    pause_cascaded: bool = False  # the pause (requested or done) came from the parent's cascade
    recent_hops: tuple[HopRecord, ...] = ()
    timing: dict[str, int] = field(default_factory=dict)
    heartbeat_at: str | None = None
    finished_at: str | None = None
    parent_id: str | None = None

    summary: dict[str, Any] = field(default_factory=dict)
    report_ref: dict[str, str] | None = None
    restarts: int = 0  # watchdog restarts (re-sends and re-arms) since the last progress
    waits: int = 0  # hops that parked the job to wait (not counted in `hops`)
    waiting_for: str | None = None  # what a parked job waits for ("shards"), until its claim

    @property
    def has_state(self) -> bool:
        return self.state_blob is not None or self.state_ref is not None

    def lease_alive(self, now_ms: int) -> bool:
        return self.lease_owner is not None and (self.lease_expires_ms or 0) >= now_ms

    @property
    def requested_stop(self) -> JobStatus | None:
        """The operator's pending request: CANCELLED (it outranks a pause), PAUSED, or None."""
        if self.cancel_requested:
            return JobStatus.CANCELLED
        if self.pause_requested:
            return JobStatus.PAUSED
        return None

    def to_public_dict(self) -> dict[str, Any]:
        """The job as a person or a script sees it: every field but the raw state and timing."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in PRIVATE_FIELDS:
                continue
            value = getattr(self, f.name)
            out[PUBLIC_NAMES.get(f.name, f.name)] = _public(value)
        return out


# Fields a person never needs to see (the state's bytes, the budget's measurements), and
# fields shown under another name.
PRIVATE_FIELDS = frozenset({"state_blob", "state_codec", "timing"})
PUBLIC_NAMES = {"report_ref": "report"}


def _public(value: Any) -> Any:
    if isinstance(value, JobStatus):
        return value.value
    if isinstance(value, StateRef):
        return value.to_dict()
    if isinstance(value, tuple):
        return [h.to_dict() for h in value]
    if isinstance(value, dict):
        return dict(value)
    return value


@dataclass(frozen=True)
class Lease:
    """Proof that this invocation holds epoch `epoch` of a job until `expires_ms` (renewed by
    each checkpoint, never past `deadline_ms` plus the clock skew)."""

    job_id: str
    epoch: int
    owner: str
    expires_ms: int
    started_ms: int
    deadline_ms: int = 0


@dataclass(frozen=True)
class ClaimRejected:
    """A refused claim, classified from the item as it was read after the failed write."""

    reason: RejectReason
    job: Job | None = None

    def describe(self, epoch: int) -> str:
        if self.job is None:
            return "job not found"
        return (
            f"event epoch {epoch}, job epoch {self.job.epoch}, status {self.job.status.value}, "
            f"reason {self.reason.value}"
        )


@dataclass(frozen=True)
class Progress:
    """What every commit writes together: the task's state and the counters it covers."""

    state: Any
    counters: Counters


@dataclass(frozen=True)
class HopEnd:
    """How a hop ended, for the timeline: items done and why it stopped."""

    items: int
    ended_by: str


@dataclass(frozen=True)
class Ending:
    """What a job leaves when it ends: a short summary for the item and its report's location."""

    summary: dict[str, Any] = field(default_factory=dict)
    report_ref: dict[str, str] | None = None


@dataclass(frozen=True)
class FailureOutcome:
    """After a task error: whether Lambda should retry the same epoch, and the job now."""

    will_retry: bool
    job: Job
