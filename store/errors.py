"""Errors a caller of the store must handle, each a class of its own."""

from __future__ import annotations


class BatonError(Exception):
    """Base of every error baton raises on purpose; its message is meant for a person."""


class ConfigError(BatonError):
    """An environment variable or flag has a value baton cannot use."""


class InvalidJob(BatonError):
    """A job id, task name or parameters were rejected before anything was written."""


class JobNotFound(BatonError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} in the jobs table")
        self.job_id = job_id


class JobConflict(BatonError):
    """A job with this id exists already with a different task or parameters."""


class IllegalTransition(BatonError):
    """An operator asked for a change the job's current status does not allow."""


class LeaseLost(BatonError):
    """The invocation no longer holds the job: it must stop at once and invoke nothing."""


class StateTooLarge(BatonError):
    """The encoded state is over the inline budget and cannot be stored."""


class StateNotJson(BatonError):
    """The task's state holds something JSON cannot encode: a task bug no retry can fix."""


class StateCorrupt(BatonError):
    """The stored state cannot be decoded; running on would mean running on bad state."""


class ChangedMeanwhile(BatonError):
    """The item changed between a read and the conditional write based on it."""


class CorruptItem(BatonError):
    """The job item has attributes of the wrong type or value: no retry can fix it."""
