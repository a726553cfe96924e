"""A job's health verdict, computed from the item alone so the CLI and the watchdog agree."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from baton.store.clock import iso_from_ms, ms_from_iso
from baton.store.constants import DEFAULT_STALL_AFTER_S
from baton.store.records import Job, JobStatus
from baton.store.units import duration


class Health(StrEnum):
    HEALTHY = "healthy"
    WAITING = "waiting for hand-off"
    STALLED = "stalled"
    PAUSED = "paused"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Verdict:
    health: Health
    reason: str


def assess(job: Job, now_ms: int, stall_after_s: int = DEFAULT_STALL_AFTER_S) -> Verdict:
    status = job.status
    if status is JobStatus.SUCCEEDED:
        return Verdict(Health.SUCCEEDED, f"finished at {job.finished_at}")
    if status is JobStatus.CANCELLED:
        return Verdict(Health.CANCELLED, f"cancelled at {job.finished_at}")
    if status is JobStatus.FAILED:
        return Verdict(Health.FAILED, job.last_error or "failed")
    if status is JobStatus.PAUSED:
        return Verdict(Health.PAUSED, "paused by an operator; `baton resume` continues it")
    idle_ms = now_ms - ms_from_iso(job.updated_at)
    if status is JobStatus.RUNNING:
        if job.lease_alive(now_ms):
            return Verdict(
                Health.HEALTHY,
                f"held by {job.lease_owner} until {iso_from_ms(job.lease_expires_ms or 0)}; "
                f"last commit {duration(idle_ms)} ago",
            )
        expired = now_ms - (job.lease_expires_ms or 0)
        return Verdict(
            Health.STALLED,
            f"its invocation died: the lease expired {duration(expired)} ago; Lambda may retry it, "
            f"the watchdog re-arms it, or run `baton resume`",
        )
    if job.waiting_for is not None:
        # Parked (LeaseHolder.park): no event is in flight until what it waits for wakes it. Past
        # the stall threshold the watchdog sends one as a backstop (a lost wake-up).
        if idle_ms < stall_after_s * 1000:
            return Verdict(
                Health.WAITING,
                f"parked {duration(idle_ms)} ago, waiting for its {job.waiting_for}, holding no "
                f"Lambda slot; each that ends wakes it",
            )
        return Verdict(
            Health.STALLED,
            f"parked {duration(idle_ms)} ago waiting for its {job.waiting_for} and not woken; "
            f"the watchdog wakes it to look, or run `baton resume`",
        )
    if idle_ms < stall_after_s * 1000:
        return Verdict(Health.WAITING, f"epoch {job.epoch} queued {duration(idle_ms)} ago")
    return Verdict(
        Health.STALLED,
        f"epoch {job.epoch} queued {duration(idle_ms)} ago and never claimed; the watchdog "
        f"re-sends it, or run `baton resume`",
    )
