"""What an operator wants to know about a job, computed from the item: rate, ETA, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.handler.tasks.framework.catalog import find_task
from baton.handler.watchdog import WatchdogSettings
from baton.store.clock import ms_from_iso
from baton.store.health import Verdict, assess
from baton.store.records import HopRecord, Job
from baton.store.units import duration

RATE_HOPS = 5


def hop_duration_ms(hop: HopRecord) -> int:
    return max(0, ms_from_iso(hop.ended_at) - ms_from_iso(hop.started_at))


def format_counters(counters: dict[str, int]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in sorted(counters.items())) or "-"


@dataclass(frozen=True)
class JobView:
    job: Job
    verdict: Verdict
    progress_counter: str | None
    done: int
    expected_total: int | None
    rate_per_s: float | None
    eta_s: float | None
    since_commit_s: float | None

    @classmethod
    def of(cls, job: Job, now_ms: int, stall_after_s: int | None = None) -> JobView:
        """The job as shown; "stalled" uses the watchdog's own threshold unless one is given, so
        every command and the watchdog agree about the same job."""
        if stall_after_s is None:
            stall_after_s = WatchdogSettings.from_env().stall_after_s
        task = find_task(job.task)
        counter = task.progress_counter if task else None
        done = job.counters.get(counter, 0) if counter else 0
        total = task.expected_total(job.params) if task else None
        recent = job.recent_hops[-RATE_HOPS:]
        busy_ms = sum(hop_duration_ms(h) for h in recent)
        rate = sum(h.items for h in recent) / (busy_ms / 1000) if busy_ms > 0 else None
        eta = None
        if total is not None and rate and not job.status.terminal:
            eta = max(0, total - done) / rate
        last_commit = job.heartbeat_at or job.updated_at
        since = (now_ms - ms_from_iso(last_commit)) / 1000 if last_commit else None
        return cls(
            job=job,
            verdict=assess(job, now_ms, stall_after_s),
            progress_counter=counter,
            done=done,
            expected_total=total,
            rate_per_s=rate,
            eta_s=eta,
            since_commit_s=since,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.job.to_public_dict(),
            "health": self.verdict.health.value,
            "health_reason": self.verdict.reason,
            "progress_counter": self.progress_counter,
            "expected_total": self.expected_total,
            "rate_per_s": round(self.rate_per_s, 3) if self.rate_per_s is not None else None,
            "eta_s": round(self.eta_s, 1) if self.eta_s is not None else None,
            "since_last_commit_s": self.since_commit_s,
        }

    def rate_text(self) -> str:
        if self.rate_per_s is None:
            return "-"
        unit = self.progress_counter or "steps"
        hops = min(RATE_HOPS, len(self.job.recent_hops))
        return f"{self.rate_per_s:,.1f} {unit}/s (last {hops} hops)"

    def eta_text(self) -> str:
        if self.eta_s is None:
            return "unknown (no expected total)" if self.expected_total is None else "-"
        return duration(int(self.eta_s * 1000))
