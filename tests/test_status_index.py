"""The by-status index is write-sharded: running jobs' writes spread over STATUS_SHARDS index
partitions, every reader queries them all, and items from before the change are backfilled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

import tests.support.tenant_task  # noqa: F401 - registers the "tenant-counts" task
from baton.handler.launch import new_job_id
from baton.store.constants import STATUS_SHARDS
from baton.store.model import status_shard
from baton.store.records import JobStatus
from tests.support.inprocess_stack import REGION, Stack, local_stack

# DynamoDB: about 1,000 write units per second per partition key value of a table or index
# (Developer Guide, "Best practices for designing and using partition keys effectively").
PARTITION_WCU_PER_S = 1_000
RUNNING_JOBS = 10_000
# A running job's writes to the index: a checkpoint every 10 s by default, each rewriting the
# job's index entry (the projected attributes, counters bounded to 32 KB: at most 33 units; a
# typical entry is under 1 KB, 1 unit); a hop's claim and hand-off move the entry between keys.
INDEX_WRITES_PER_JOB_PER_S = 0.3
TYPICAL_ENTRY_UNITS = 1


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws(), local_stack(timeout_ms=5_000) as s:
        yield s


def test_ten_thousand_running_jobs_stay_under_each_index_partitions_limit() -> None:
    ids = [new_job_id(1_796_000_000_000 + i) for i in range(RUNNING_JOBS)]
    per_key = Counter(status_shard(job_id, JobStatus.RUNNING.value) for job_id in ids)
    assert len(per_key) == STATUS_SHARDS
    busiest = max(per_key.values())
    assert busiest <= 1.25 * RUNNING_JOBS / STATUS_SHARDS, per_key
    peak_wcu = busiest * INDEX_WRITES_PER_JOB_PER_S * TYPICAL_ENTRY_UNITS
    assert peak_wcu <= PARTITION_WCU_PER_S / 4, "a fourth of a partition's limit at most"
    # Unsharded, the same jobs put all of it on one key.
    assert RUNNING_JOBS * INDEX_WRITES_PER_JOB_PER_S > PARTITION_WCU_PER_S / 4


def start_many(stack: Stack, count: int) -> list[str]:
    ids = []
    for n in range(count):
        job = stack.start({"tenants": 1, "per_step": 1}, task="tenant-counts", job_id=f"j-{n:03d}")
        ids.append(job.job_id)
        if n % 3 == 0:
            stack.clock.advance(1)  # some jobs share an updated_at to the millisecond
    return ids


def every_page(stack: Stack, status: JobStatus, limit: int) -> list[str]:
    seen: list[str] = []
    key = None
    while True:
        page, key = stack.store.list_jobs(status, limit=limit, start_key=key)
        seen.extend(job.job_id for job in page)
        if key is None:
            return seen


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_paging_through_every_shard_lists_each_job_once_newest_first(
    stack: Stack, limit: int
) -> None:
    ids = start_many(stack, 40)
    assert len({status_shard(i, "QUEUED") for i in ids}) > 1
    listed = every_page(stack, JobStatus.QUEUED, limit)
    assert sorted(listed) == sorted(ids)
    jobs = {i: stack.job(i) for i in ids}
    order = [(jobs[i].updated_at, i) for i in listed]
    assert order == sorted(order, reverse=True)


def test_every_status_write_moves_the_index_key_with_it(stack: Stack) -> None:
    ids = start_many(stack, 12)
    stack.store.request_cancel(ids[0])
    stack.store.request_pause(ids[1])
    stack.sim.drain()
    table = boto3.client("dynamodb", region_name=REGION)
    items = table.scan(TableName=stack.store.table_name)["Items"]
    assert len(items) == 12
    for item in items:
        job_id, status = item["job_id"]["S"], item["status"]["S"]
        assert item["status_shard"]["S"] == status_shard(job_id, status)
    assert {j.job_id for j in stack.store.list_jobs(JobStatus.SUCCEEDED, limit=50)[0]} == set(
        ids[2:]
    )


def test_jobs_written_before_the_sharded_index_are_backfilled_once(stack: Stack) -> None:
    ids = start_many(stack, 5)
    table = boto3.client("dynamodb", region_name=REGION)
    for job_id in ids[:3]:  # as an earlier version wrote them: no index key
        table.update_item(
            TableName=stack.store.table_name,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="REMOVE status_shard",
        )
    assert sorted(every_page(stack, JobStatus.QUEUED, 10)) == ids[3:]
    assert stack.store.backfill_status_index() == 3
    assert sorted(every_page(stack, JobStatus.QUEUED, 10)) == ids
    assert stack.store.backfill_status_index() == 0


def test_a_page_token_from_elsewhere_is_refused(stack: Stack) -> None:
    from baton.store.errors import InvalidJob

    with pytest.raises(InvalidJob, match="page token"):
        stack.store.list_jobs(JobStatus.QUEUED, start_key={"job_id": {"S": "x"}})


def test_a_sweep_reads_every_job_of_a_status_once(stack: Stack) -> None:
    ids = start_many(stack, 30)
    swept = [job.job_id for job in stack.store.every_job(JobStatus.QUEUED)]
    assert sorted(swept) == sorted(ids)
    newest = max(stack.job(i).updated_at for i in ids)
    older = {job.job_id for job in stack.store.every_job(JobStatus.QUEUED, updated_before=newest)}
    assert older == {i for i in ids if stack.job(i).updated_at < newest}
