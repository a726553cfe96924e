"""Every operator command against the real local stack: HTTP endpoints, worker processes,
moto's server. The CLI runs in-process with the environment `baton up` prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from baton.cli.main import app
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from baton.store.records import JobStatus
from tests.support.buckets import BucketTruth
from tests.support.local_e2e import LOCAL_ACTIONS, SLOW, fill, wait_until

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

runner = CliRunner()
BUCKET = "cli-walk"
OBJECTS = 300


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        function=FunctionConfig(timeout_ms=3_000),
        min_margin_ms=1_500,
        checkpoint_s=1,
        action_modules=("baton.local.demo.actions", LOCAL_ACTIONS),
        log_level="WARNING",
    ) as s:
        yield s


@pytest.fixture(scope="module")
def truth(stack: LocalStack) -> BucketTruth:
    return fill(stack, BUCKET, OBJECTS)


def baton(stack: LocalStack, *args: str) -> Any:
    return runner.invoke(app, list(args), env=stack.env())


def baton_json(stack: LocalStack, *args: str) -> Any:
    result = baton(stack, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout alone: logs go to stderr, which .output mixes in


def status_of(stack: LocalStack, job_id: str) -> dict[str, Any]:
    return baton_json(stack, "status", job_id)  # type: ignore[no-any-return]


def slow_walk(stack: LocalStack, job_id: str, sleep_ms: int = 5, *extra: str) -> dict[str, Any]:
    params = json.dumps({"sleep_ms": sleep_ms})
    return baton_json(  # type: ignore[no-any-return]
        stack,
        "start",
        "s3-walk",
        "--bucket",
        BUCKET,
        "--job-id",
        job_id,
        "--action",
        SLOW,
        "--action-params",
        params,
        "--expected-objects",
        str(OBJECTS),
        # One object at a time: the tests count on the walk lasting several hops.
        "--concurrency",
        "1",
        *extra,
    )


def test_start_watch_status_history_list_and_report(stack: LocalStack, truth: BucketTruth) -> None:
    assert "exists already" in baton(stack, "init").output
    started = slow_walk(stack, "cli-main", 10)
    assert started["created"] and started["status"] == "QUEUED"

    watched = baton(stack, "watch", "cli-main", "--interval", "0.2", "--timeout", "120")
    assert watched.exit_code == 0, watched.output
    assert "SUCCEEDED" in watched.output

    done = status_of(stack, "cli-main")
    assert done["health"] == "succeeded"
    assert {k: done["counters"][k] for k in ("objects", "bytes")} == truth.counters()
    assert done["hops"] >= 2 and done["report"]["key"].startswith("reports/cli-main/")

    hops = baton_json(stack, "history", "cli-main")
    assert sum(h["items"] for h in hops) == OBJECTS and hops[-1]["ended_by"] == "finished"
    listed = baton_json(stack, "list", "--status", "SUCCEEDED")
    assert "cli-main" in [j["job_id"] for j in listed["jobs"]]
    report = baton_json(stack, "report", "cli-main")
    assert report[0]["type"] == "job" and report[0]["counters"]["objects"] == OBJECTS


def test_pause_resume_and_cancel_running_chains(stack: LocalStack, truth: BucketTruth) -> None:
    slow_walk(stack, "cli-pause", 25)
    wait_until(lambda: status_of(stack, "cli-pause")["hops"] >= 2, timeout_s=60, what="two hops")
    paused = baton_json(stack, "pause", "cli-pause")
    assert paused["status"] in ("PAUSED", "RUNNING", "QUEUED")
    wait_until(
        lambda: status_of(stack, "cli-pause")["status"] == "PAUSED",
        timeout_s=30,
        what="the pause to take effect",
    )
    at_pause = status_of(stack, "cli-pause")["counters"]["objects"]
    assert 0 < at_pause < OBJECTS
    resumed = baton_json(stack, "resume", "cli-pause")
    assert resumed["epoch"] > paused["epoch"]
    assert (
        baton(stack, "watch", "cli-pause", "--interval", "0.2", "--timeout", "120").exit_code == 0
    )
    assert status_of(stack, "cli-pause")["counters"]["objects"] == OBJECTS

    slow_walk(stack, "cli-cancel", 25)
    wait_until(lambda: status_of(stack, "cli-cancel")["hops"] >= 2, timeout_s=60, what="hops")
    baton(stack, "cancel", "cli-cancel")
    assert (
        baton(stack, "watch", "cli-cancel", "--interval", "0.2", "--timeout", "60").exit_code == 3
    )
    cancelled = status_of(stack, "cli-cancel")
    assert cancelled["status"] == "CANCELLED" and cancelled["counters"]["objects"] < OBJECTS
    again = baton(stack, "resume", "cli-cancel")
    assert again.exit_code == 1 and "cannot be resumed" in again.output


def test_kill_switch_and_watchdog(stack: LocalStack, truth: BucketTruth) -> None:
    assert baton_json(stack, "kill-switch", "on")["kill_switch"] is True
    assert baton_json(stack, "kill-switch", "status")["reserved_concurrency"] == 0
    assert baton_json(stack, "watchdog", "--once")["actions"] == []
    assert baton_json(stack, "kill-switch", "off")["kill_switch"] is False
    assert baton_json(stack, "watchdog", "--once")["actions"] == [], "nothing is stalled"


def test_errors_are_one_line_and_non_zero(stack: LocalStack) -> None:
    unknown = baton(stack, "status", "no-such-job")
    assert unknown.exit_code == 1 and "no job 'no-such-job'" in unknown.output
    bad = baton(stack, "list", "--status", "DONE")
    assert bad.exit_code == 2 and "unknown status" in bad.output
    refused = baton(stack, "start", "s3-walk", "--bucket", BUCKET, "--action", "os:system")
    assert refused.exit_code == 2 and "not allowed" in refused.output
    unreachable = runner.invoke(
        app, ["status", "x"], env={**stack.env(), "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}
    )
    # The promise: one line on stderr, a non-zero exit, naming the endpoint and the variable
    # that set it (not the wording around them).
    assert unreachable.exit_code == 1, unreachable.output
    assert unreachable.stdout == ""
    said = unreachable.stderr.strip()
    assert "\n" not in said and said.startswith("error:"), said
    assert "http://127.0.0.1:9" in said and "AWS_ENDPOINT_URL_DYNAMODB" in said, said


def test_a_fan_out_over_eight_shards_with_kills_and_duplicates() -> None:
    """Real parallel shards on worker processes, with workers killed and events duplicated."""
    faults = FaultConfig(duplicate=Fault(0.2, seed=3), kill=Fault(0.05, seed=4))
    with LocalStack(
        function=FunctionConfig(timeout_ms=3_000, reserved_concurrency=4),
        faults=faults,
        min_margin_ms=1_500,
        checkpoint_s=1,
        action_modules=("baton.local.demo.actions", LOCAL_ACTIONS),
        log_level="WARNING",
    ) as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket="fan")
        keys = [f"{chr(ord('a') + d)}/{i:03d}" for d in range(9) for i in range(30)]
        for key in keys:
            s3.put_object(Bucket="fan", Key=key, Body=b"z" * 7)
        params = json.dumps({"sleep_ms": 5})
        started = baton(
            stack,
            "start",
            "s3-fanout",
            "--bucket",
            "fan",
            "--job-id",
            "fan-1",
            "--split",
            "delimiter",
            "--shards",
            "8",
            "--max-concurrency",
            "4",
            "--action",
            SLOW,
            "--action-params",
            params,
        )
        assert started.exit_code == 0, started.output
        job = stack.wait_for_job("fan-1", lambda j: j.status.terminal, timeout_s=240)
        assert job.status is JobStatus.SUCCEEDED, job.last_error
        assert job.counters["objects"] == len(keys) and job.counters["bytes"] == 7 * len(keys)
        assert job.counters["shards_succeeded"] == 9
        shards = baton_json(stack, "status", "fan-1")["shards"]
        assert len(shards) == 9 and sum(s["counters"]["objects"] for s in shards) == len(keys)
