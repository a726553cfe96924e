"""The world changing under a running job: the walked bucket or the jobs table deleted. Each
ends in a clear error and loses nothing that was committed. In process: moto, LambdaSim."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.store.records import JobStatus
from tests.support.inprocess_stack import Stack, local_stack
from tests.test_operator import operate

REGION = "us-east-1"
WALKED = "walked-away"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws(), local_stack(timeout_ms=1_500, tick_ms=40) as s:
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=WALKED)
        for i in range(300):
            s3.put_object(Bucket=WALKED, Key=f"k{i:04d}", Body=b"x")
        operate(s, monkeypatch)
        yield s


def delete_bucket(name: str) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def test_a_walked_bucket_deleted_mid_job_fails_it_with_the_cursor_kept(stack: Stack) -> None:
    job = stack.start({"bucket": WALKED})
    stack.sim.deliver(stack.sim.queue.popleft())  # one hop, handed off
    handed = stack.job(job.job_id)
    assert handed.status is JobStatus.QUEUED and 0 < handed.counters["objects"] < 300
    delete_bucket(WALKED)
    stack.sim.drain()
    failed = stack.job(job.job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None and "NoSuchBucket" in failed.last_error
    assert f"baton resume {job.job_id}" in failed.last_error
    assert failed.counters == handed.counters, "what was committed stays"
    status = CliRunner().invoke(app, ["status", job.job_id, "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["status"] == "FAILED"


def test_a_deleted_jobs_table_is_said_plainly(stack: Stack) -> None:
    job = stack.start({"bucket": WALKED})
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=stack.store.table_name)
    stack.sim.deliver(stack.sim.queue.popleft())
    assert stack.sim.errors, "the worker raises: Lambda retries, the event is not dropped"
    assert len(stack.sim.queue) == 1
    status = CliRunner().invoke(app, ["status", job.job_id])
    assert status.exit_code == 1, status.output
    assert "jobs table does not exist" in status.output and "baton init" in status.output
    assert "Traceback" not in status.output
