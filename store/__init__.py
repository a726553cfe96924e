"""The job store: one DynamoDB item per job and the conditional writes of the hand-off protocol.

Nothing here knows about Lambda beyond deadlines as numbers; the handler and the CLI build on it.
"""

from baton.store.errors import (
    BatonError,
    ChangedMeanwhile,
    ConfigError,
    CorruptItem,
    IllegalTransition,
    InvalidJob,
    JobConflict,
    JobNotFound,
    LeaseLost,
    PermanentError,
    StateCorrupt,
    StateNotJson,
    StateTooLarge,
    WriteUnknown,
)
from baton.store.job_store import JobStore
from baton.store.lease_holder import LeaseHolder
from baton.store.records import (
    ClaimRejected,
    Counters,
    FailureOutcome,
    HopEnd,
    Job,
    JobSpec,
    JobStatus,
    Lease,
    Progress,
    RejectReason,
)

__all__ = [
    "BatonError",
    "ChangedMeanwhile",
    "ClaimRejected",
    "ConfigError",
    "CorruptItem",
    "Counters",
    "FailureOutcome",
    "HopEnd",
    "IllegalTransition",
    "InvalidJob",
    "Job",
    "JobConflict",
    "JobNotFound",
    "JobSpec",
    "JobStatus",
    "JobStore",
    "Lease",
    "LeaseHolder",
    "LeaseLost",
    "PermanentError",
    "Progress",
    "RejectReason",
    "StateCorrupt",
    "StateNotJson",
    "StateTooLarge",
    "WriteUnknown",
]
