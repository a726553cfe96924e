"""An S3 Inventory report fanned out by data file, and a manifest walk killed mid-step."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.handler import faults
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.kit.inventory_files import tmp_room
from baton.local.demo.sample_inputs import put_inventory
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.inprocess_stack import TEST_ACTIONS, local_stack
from tests.support.lambda_sim import KillAt
from tests.test_inputs import drain_with_watchdog
from tests.test_operator import operate

RECORD = f"{TEST_ACTIONS}:record"


def test_a_manifest_split_by_file_walks_each_object_once_in_parallel_shards(
    monkeypatch: Any,
) -> None:
    actions.reset()
    with mock_aws(), local_stack(timeout_ms=1_500) as stack:
        operate(stack, monkeypatch)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="inv")
        truth = put_inventory(s3, "inv", "src", 1_000, 5)
        params = {"manifest": truth.manifest_uri, "action": RECORD, "shards": 3, "poll_s": 2}
        stack.start(params, task="s3-fanout", job_id="inv-fan")
        stack.sim.drain()
        parent = stack.job("inv-fan")
        state = stack.store.load_state(parent)
        shards = stack.store.get_many([s["id"] for s in state["shards"]])

    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    assert sorted((s.task, s.params["first_file"], s.params["end_file"]) for s in shards) == [
        ("s3-manifest", 0, 1),
        ("s3-manifest", 1, 3),
        ("s3-manifest", 3, 5),
    ]
    assert parent.counters["objects"] == 1_000 and parent.counters["bytes"] == truth.bytes
    assert set(actions.seen) == set(truth.keys) and set(actions.seen.values()) == {1}
    check_one_holder_no_fork(stack.commits)


def test_a_manifest_walk_killed_mid_step_counts_exactly(monkeypatch: Any) -> None:
    actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n % 97 == 0)
    with mock_aws(), local_stack(timeout_ms=1_500, faults=kill) as stack:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="inv")
        truth = put_inventory(s3, "inv", "src", 1_500, 3)
        job = stack.start({"manifest": truth.manifest_uri, "action": RECORD}, task="s3-manifest")
        drain_with_watchdog(stack, job.job_id)
        done = stack.job(job.job_id)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert kill.kills >= 3
    assert done.counters["objects"] == done.counters["recorded"] == 1_500
    assert set(actions.seen) == set(truth.keys), "every object at least once"
    check_one_holder_no_fork(stack.commits)


def test_a_data_file_larger_than_tmp_fails_the_job_at_once_saying_what_to_change() -> None:
    """Lambda's /tmp is 512 MB unless WorkerEphemeralStorageMB says more: a data file that cannot
    fit is refused before its download, not found out by a full disk mid-hop (retried forever)."""
    actions.reset()
    with mock_aws(), local_stack(timeout_ms=1_500) as stack:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="inv")
        truth = put_inventory(s3, "inv", "src", 100, 2)
        bucket, key = truth.manifest_uri.removeprefix("s3://").split("/", 1)
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        # What S3 Inventory writes for a large bucket: a data file bigger than /tmp's room.
        manifest["files"][1]["size"] = tmp_room() + 1024**3
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
        job = stack.start({"manifest": truth.manifest_uri, "action": RECORD}, task="s3-manifest")
        stack.sim.drain()
        done = stack.job(job.job_id)

    assert done.status is JobStatus.FAILED
    assert "inventory file 1" in (done.last_error or "")
    assert "WorkerEphemeralStorageMB" in (done.last_error or "")
    assert "baton resume" in (done.last_error or ""), "resumable from its last commit"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"manifest": "s3://inv/m.json", "bucket": "bkt"}, "does not take bucket"),
        ({"manifest": "nope"}, "s3://bucket/key"),
        ({"manifest": "s3://inv/m.json", "shards": -1}, "shards"),
        ({"split": "manifest"}, "s3://bucket/key"),
    ],
)
def test_bad_manifest_fan_out_parameters(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidJob, match=problem):
        FanOut.validate(params, ())
