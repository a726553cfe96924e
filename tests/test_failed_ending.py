"""A job that fails leaves a summary and report of its last commit, not of the work after it.

A failure's write keeps the state and counters as last committed (a resume goes on from there),
so the summary on the item and the report in S3 must describe that commit. Built from the hop's
memory instead, they would count objects the job never committed and name a cursor a resume
does not start from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.handler.tasks.framework.base import JobFailure, StepContext, Task
from baton.handler.tasks.framework.registry import register
from baton.store.records import JobStatus
from tests.support.inprocess_stack import local_stack

STATE_BUCKET = "failed-ending"
COMMITTED = 8  # k00..k07 are committed; k08 is done in memory, then the job fails


@register
class FailAfterCommit(Task):
    """Walks k00, k01, ...; asks for a commit after k07, does k08, then fails for good."""

    name = "fail-after-commit"
    progress_counter = "objects"

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        return {"transient": bool(params.get("transient", False))}

    def start(self) -> dict[str, Any]:
        return {"next": 0, "last_key": None}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        index = state["next"]
        if index > COMMITTED:
            if self.params["transient"]:
                raise RuntimeError("the source timed out")  # a failed attempt, the last one
            raise JobFailure("the source went away")
        state["last_key"] = f"k{index:02d}"
        state["next"] = index + 1
        ctx.count("objects")
        if state["next"] == COMMITTED:
            ctx.commit_now()
        return False

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"last_key": state["last_key"]}

    def report(self, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for i in range(state["next"]):
            yield {"type": "item", "key": f"k{i:02d}"}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.parametrize("transient", [False, True], ids=["permanent", "last-attempt"])
def test_a_failed_jobs_summary_and_report_are_its_last_commit(aws: None, transient: bool) -> None:
    with local_stack(state_bucket=STATE_BUCKET, timeout_ms=60_000) as stack:
        params = {"transient": transient}
        stack.start(params, task="fail-after-commit", job_id="f", max_attempts=1)
        stack.sim.drain()
        job = stack.job("f")
        assert job.status is JobStatus.FAILED, job.status
        assert job.counters == {"objects": COMMITTED}
        committed = stack.store.load_state(job)
        assert committed["last_key"] == "k07"
        assert job.summary == {"last_key": "k07"}, "the summary names the committed cursor"
        assert job.report_ref is not None
        body = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket=job.report_ref["bucket"], Key=job.report_ref["key"]
        )["Body"]
        lines = [json.loads(line) for line in body.read().decode().splitlines()]
        assert lines[0]["counters"] == {"objects": COMMITTED}
        assert [line["key"] for line in lines[1:]] == [f"k{i:02d}" for i in range(COMMITTED)]
