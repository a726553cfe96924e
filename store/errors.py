"""Errors a caller of the store must handle, each a class of its own.

Retry semantics live in the class: a `PermanentError` is one no other attempt at the same cursor
can fix (the relay fails the job at once); every other error in a hop is an attempt that failed
(the relay releases the lease with the attempt counted, and Lambda retries it). Errors about one
job carry its id and, where known, the epoch, so logs and the CLI can say which.
"""

from __future__ import annotations

from typing import Any


class BatonError(Exception):
    """Base of every error baton raises on purpose; its message is meant for a person."""

    def __init__(
        self, message: str = "", *, job_id: str | None = None, epoch: int | None = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.epoch = epoch


class PermanentError(BatonError):
    """No retry at the same cursor can fix this: the job fails at once, its cursor kept."""


class ConfigError(PermanentError):
    """An environment variable or flag has a value baton cannot use."""


class InvalidJob(PermanentError):
    """A job id, task name or parameters were rejected before anything was written."""


class JobNotFound(BatonError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} in the jobs table", job_id=job_id)


class JobConflict(BatonError):
    """A job with this id exists already with a different task or parameters."""


class IllegalTransition(BatonError):
    """An operator asked for a change the job's current status does not allow."""


class LiveLease(IllegalTransition):
    """A resume found the job held by a live invocation.

    `forced` says whether the caller asked to take an expired holder's lease; `force_after` is
    when the holder's lease term ends without a renewal (ISO), after which a forced resume
    takes it.
    """

    def __init__(self, message: str, *, job_id: str, forced: bool, force_after: str) -> None:
        super().__init__(message, job_id=job_id)
        self.forced = forced
        self.force_after = force_after


class LeaseLost(BatonError):
    """The invocation no longer holds the job: it must stop at once and invoke nothing.

    `landed` is set when the item moved on by this holder's own earlier write of unknown outcome
    (its token is on the item): the job as that write left it, for the relay to finish the act
    (send the hand-off's event, or let Lambda retry a released attempt)."""

    def __init__(
        self,
        message: str = "",
        *,
        job_id: str | None = None,
        epoch: int | None = None,
        landed: Any = None,
    ) -> None:
        super().__init__(message, job_id=job_id, epoch=epoch)
        self.landed = landed


class StateTooLarge(PermanentError):
    """The encoded state is over the inline budget and cannot be stored."""


class StateNotJson(PermanentError):
    """The task's state holds something JSON cannot encode: a task bug no retry can fix."""


class StateBucketMissing(BatonError):
    """A state that must spill has no bucket to go to (BATON_STATE_BUCKET names none that
    exists). A failed attempt, not a permanent error: creating the bucket lets a retry commit."""


class StateCorrupt(PermanentError):
    """The stored state cannot be decoded; running on would mean running on bad state."""


class ChangedMeanwhile(BatonError):
    """The item changed between a read and the conditional write based on it."""


class CorruptItem(PermanentError):
    """The job item has attributes of the wrong type or value: no retry can fix it."""


class CountersTooLarge(PermanentError):
    """The task counts more distinct names (or bytes of them) than a job item keeps: a task
    design limit no retry can fix (the last committed counters are kept)."""


class ItemTooLarge(CorruptItem):
    """DynamoDB refused a write because the item would pass its 400 KB limit: the same write
    fails the same way on every retry, so it is handled like a malformed item, with its own
    reason."""


class ParentStopped(BatonError):
    """A fan-out parent may launch no more shards: the operator's cancel or pause was accepted on
    it, or it no longer holds its lease. The shard was not created by this call; `existing` is
    the shard's job when an earlier launch had created it (before the request)."""

    def __init__(self, message: str, *, job_id: str, existing: Any = None) -> None:
        super().__init__(message, job_id=job_id)
        self.existing = existing


class WriteUnknown(BatonError):
    """A write's outcome is unknown: the SDK gave up (timeouts, throttling, 5xx) and the item
    did not show the write's token when read back. It may still land; nothing it wrote is
    deleted. Transient: another attempt may succeed."""


class CreateThrottled(WriteUnknown):
    """A guarded create (a shard's, with its check on the parent item) stayed throttled: its
    requests were refused for the throughput of the items it writes or checks, and the new item
    did not show its token when read back. Creating the same job id again settles it (an
    identical existing job is returned), so the caller may defer the create and try later."""
