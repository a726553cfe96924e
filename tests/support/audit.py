"""Check I1 (one holder) and I2 (no fork) from the store's record of committed writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from baton.store.audit import CommitEvent

HOLDER_OPS = {"checkpoint", "hand_off", "finish", "fail", "release", "paused", "cancelled"}
RELEASING_OPS = {"hand_off", "finish", "fail", "release", "paused", "cancelled"}


def check_one_holder_no_fork(events: list[CommitEvent]) -> None:
    """Replay the commits in order and fail on the first that breaks I1 or I2."""
    by_job: dict[str, list[CommitEvent]] = defaultdict(list)
    for event in events:
        by_job[event.job_id].append(event)
    for job_id, job_events in by_job.items():
        holder: CommitEvent | None = None
        highest_epoch = 0
        for event in job_events:
            if event.epoch < highest_epoch and event.op in HOLDER_OPS | {"claim"}:
                raise AssertionError(f"{job_id}: fork, {event} after epoch {highest_epoch}")
            if event.op == "claim":
                if holder is not None:
                    expiry = holder.lease_expires_ms or 0
                    if event.at_ms <= expiry:
                        raise AssertionError(f"{job_id}: two holders, {event} while {holder}")
                holder = event
            elif event.op in HOLDER_OPS and event.owner is not None:
                if holder is None or holder.owner != event.owner or holder.epoch != event.epoch:
                    raise AssertionError(
                        f"{job_id}: write by a non-holder: {event}; holder {holder}"
                    )
                if event.op in RELEASING_OPS:
                    holder = None
                elif event.lease_expires_ms is not None:
                    holder = replace(holder, lease_expires_ms=event.lease_expires_ms)  # renewed
            else:
                # operator transitions (resume, direct pause/cancel, max_hops) end any lease.
                holder = None
            highest_epoch = max(highest_epoch, event.epoch)
            if event.op == "hand_off":
                highest_epoch = max(highest_epoch, event.epoch + 1)
