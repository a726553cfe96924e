"""An operator's read of a running fan-out parent's plan survives the holder's next commit.

`baton cancel`, `pause` and `status` on a parent read its item, then its state (the plan that
names the shards). With the state spilled to S3, the holder may commit between the two reads and
delete the object the first read pointed to. That read must not fail as "state missing" (the
cascade to the shards skipped, the command exiting with an error after its request was
accepted): it reads the item again and takes the plan from the newer commit.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from baton.handler.children import planned_shards
from baton.store import JobSpec, JobStatus, JobStore, Progress
from baton.store.codec import StateCodec
from baton.store.errors import StateCorrupt
from baton.store.lease_holder import LeaseHolder
from tests.support.memory_store import memory_store

BUCKET = "plan-state"
PARENT = "p"


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s.codec = StateCodec(s3, BUCKET, inline_limit=0)
        yield s


def plan(n: int) -> dict[str, object]:
    return {"planned": True, "shards": [{"id": f"{PARENT}.s{i:04d}"} for i in range(n)]}


def test_the_plan_is_read_from_the_newer_commit_when_the_old_object_is_gone(
    store: JobStore,
) -> None:
    store.create(JobSpec(PARENT, "s3-fanout", {"bucket": "b"}, max_hops=10, max_attempts=3))
    held = store.claim(PARENT, 1, "r1", store.clock.now_ms() + 60_000)
    assert isinstance(held, LeaseHolder)
    held.checkpoint(Progress(plan(3), {}))
    asked = store.request_cancel(PARENT)  # the operator's read: the item as of that commit
    assert asked.status is JobStatus.RUNNING and asked.state_ref is not None
    held.checkpoint(Progress(plan(4), {}))  # the holder commits; the old object goes
    with pytest.raises(StateCorrupt):
        store.load_state(asked)  # what the cascade read before: the object is gone
    assert planned_shards(store, asked) == [f"{PARENT}.s{i:04d}" for i in range(4)]


def test_a_state_object_really_missing_is_still_an_error(store: JobStore) -> None:
    store.create(JobSpec(PARENT, "s3-fanout", {"bucket": "b"}, max_hops=10, max_attempts=3))
    held = store.claim(PARENT, 1, "r1", store.clock.now_ms() + 60_000)
    assert isinstance(held, LeaseHolder)
    job = held.checkpoint(Progress(plan(2), {}))
    assert job.state_ref is not None
    store.codec.discard(job.state_ref)
    with pytest.raises(StateCorrupt, match="missing"):
        planned_shards(store, job)
