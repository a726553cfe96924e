"""The pynamodb model of the jobs table: the table's shape is read here and nowhere else."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from baton.store.constants import BY_STATUS_INDEX, STATUS_SHARDS

if TYPE_CHECKING:
    import botocore.session

# The by-status index projects the readable attributes, never the state blob, so a checkpoint
# does not pay for copying the state into the index.
STATUS_INDEX_ATTRIBUTES = [
    "status",
    "epoch",
    "task",
    "counters",
    "hops",
    "max_hops",
    "attempts",
    "lease_owner",
    "lease_expires_ms",
    "last_error",
    "created_at",
    "heartbeat_at",
    "finished_at",
    "parent_id",
    "cancel_requested",
    "pause_requested",
    "waits",
    "waiting_for",
]


class HopAttribute(MapAttribute[str, Any]):
    hop = NumberAttribute()
    epoch = NumberAttribute()
    owner = UnicodeAttribute()
    started_at = UnicodeAttribute()
    ended_at = UnicodeAttribute()
    items = NumberAttribute()
    ended_by = UnicodeAttribute()


def status_shard(job_id: str, status: str) -> str:
    """The by-status index key of a job in `status`: the status and the job's shard, fixed by
    its id (`RUNNING#07`), so the index's writes spread over STATUS_SHARDS partitions."""
    digest = hashlib.sha256(job_id.encode()).digest()
    return f"{status}#{int.from_bytes(digest[:4], 'big') % STATUS_SHARDS:02d}"


def status_shards(status: str) -> list[str]:
    """Every index key of `status`: what a reader of one status queries."""
    return [f"{status}#{n:02d}" for n in range(STATUS_SHARDS)]


class ByStatusIndex(GlobalSecondaryIndex["JobModel"]):
    class Meta:
        index_name = BY_STATUS_INDEX
        projection = IncludeProjection(STATUS_INDEX_ATTRIBUTES)

    status_shard = UnicodeAttribute(hash_key=True)
    updated_at = UnicodeAttribute(range_key=True)


class JobModel(Model):
    """One item per job. Everything but `state` is a plain attribute a person can read."""

    class Meta:
        table_name = "baton-jobs"
        billing_mode = "PAY_PER_REQUEST"

    job_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    # `status` and the job's index shard (`status_shard`): set with `status` by every write that
    # sets it; the by-status index's key.
    status_shard = UnicodeAttribute(null=True)
    epoch = NumberAttribute()
    task = UnicodeAttribute()
    params = MapAttribute[str, Any](default=dict)
    counters = MapAttribute[str, Any](default=dict)
    state = BinaryAttribute(null=True, legacy_encoding=False)
    state_codec = UnicodeAttribute(null=True)
    state_size = NumberAttribute(null=True)
    state_ref = MapAttribute[str, Any](null=True)
    summary = MapAttribute[str, Any](null=True)
    report_ref = MapAttribute[str, Any](null=True)
    hops = NumberAttribute(default=0)
    # Hops that found nothing to do but wait (a fan-out parent whose shards are all running)
    # and parked the job unheld; they are not counted in `hops` (see LeaseHolder.park).
    waits = NumberAttribute(null=True)
    # Set while a parked job waits to be woken ("shards"); removed by the next claim.
    waiting_for = UnicodeAttribute(null=True)
    max_hops = NumberAttribute()
    attempts = NumberAttribute(default=0)
    # Watchdog restarts (re-sends and re-arms) since the last progress. The item attribute keeps
    # its first name, `rearms`, so items written before the rename read unchanged.
    restarts = NumberAttribute(null=True, attr_name="rearms")
    max_attempts = NumberAttribute()
    lease_owner = UnicodeAttribute(null=True)
    lease_expires_ms = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    cancel_requested = BooleanAttribute(null=True)
    pause_requested = BooleanAttribute(null=True)
    # The pause came from the job's fan-out parent (its cascade), not from an operator naming
    # this job: the parent resumes such a shard when it runs again; one paused by name waits.
    pause_cascaded = BooleanAttribute(null=True)
    recent_hops = ListAttribute(of=HopAttribute, null=True)
    timing = MapAttribute[str, Any](null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    heartbeat_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    parent_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    # The token of the last write that moved the item on (see store/writes.py); operators'
    # cancel and pause flags leave it alone.
    last_write = UnicodeAttribute(null=True)

    by_status = ByStatusIndex()


@lru_cache(maxsize=8)
def bind_job_model(table: str, region: str, host: str | None) -> type[JobModel]:
    """A JobModel subclass bound to one table and endpoint (pynamodb reads Meta per class)."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table,
            "region": region,
            "host": host,
            "billing_mode": "PAY_PER_REQUEST",
            "max_retry_attempts": 3,
        },
    )
    return type(f"JobModel_{abs(hash((table, region, host)))}", (JobModel,), {"Meta": meta})


def bound_calls(model: type[JobModel], connect_s: float, read_s: float, attempts: int) -> None:
    """Give a bound model short timeouts and `attempts` tries per call (the first included).

    For a person at a terminal (the CLI), who must hear in seconds that an endpoint does not
    answer; the worker keeps the defaults. Call it before the model's first request: pynamodb
    reads these settings when it opens its connection."""
    meta: Any = model.Meta  # pynamodb's Meta is a plain class; these are its documented settings
    meta.connect_timeout_seconds = connect_s
    meta.read_timeout_seconds = read_s
    meta.max_retry_attempts = max(0, attempts - 1)


def connect(model: type[JobModel], session: botocore.session.Session | None = None) -> None:
    """Build the model's DynamoDB client now, from `session` when given.

    pynamodb builds its client on the first request, in a botocore session of its own (one per
    thread): in a Lambda sandbox that is the first hop, on the clock of its timeout, loading
    botocore's data files a second time. Called while the sandbox initialises, with the
    sandbox's one botocore session, it costs one more client of an already loaded service.
    Lambda's Python runtime initialises and invokes on the same thread; another thread falls
    back to a session of its own, as pynamodb does by itself.
    """
    connection: Any = model._get_connection().connection
    if session is not None:
        connection._local.session = session
    _ = connection.client  # builds and caches it
