"""`baton init`, `start` and `status` against moto, as an operator runs them."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.context import CliContext
from baton.cli.main import app
from baton.store.job_store import JobStore
from baton.store.lease_holder import LeaseHolder
from baton.store.model import bind_job_model
from baton.store.records import JobStatus

REGION = "us-east-1"
runner = CliRunner()


def baton(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"BATON_TABLE": "cli-jobs", **(env or {})})


def make_function(name: str) -> None:
    """A function in moto's Lambda (it never runs code here); reused if it exists already."""
    iam = boto3.client("iam", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)
    try:
        lam.get_function(FunctionName=name)
        return
    except lam.exceptions.ResourceNotFoundException:
        pass
    try:
        role = iam.create_role(
            RoleName=f"{name}-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=f"{name}-role")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return None\n")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """moto, with the worker function's invokes recorded (moto cannot run Lambda code here).

    Invokes of any other function name go on to moto, which answers them as AWS would.
    """
    with mock_aws():
        make_function("baton-worker")
        invokes: list[dict[str, Any]] = []

        def record(params: dict[str, Any], **_: Any) -> Any:
            if "/functions/baton-worker/" not in params["url_path"]:
                return None
            invokes.append(json.loads(params["body"]))
            return AWSResponse("https://lambda", 202, {}, None), {"StatusCode": 202}

        client = boto3.client("lambda", region_name=REGION)
        client.meta.events.register("before-call.lambda.Invoke", record)
        monkeypatch.setattr(CliContext, "lambda_client", property(lambda self: client))
        yield invokes


def test_init_creates_the_table_once(aws: list[Any]) -> None:
    first = baton("init")
    assert first.exit_code == 0, first.output
    assert "created cli-jobs" in first.output
    again = baton("init")
    assert again.exit_code == 0 and "exists already" in again.output


def test_start_then_status_json(aws: list[Any]) -> None:
    baton("init")
    started = baton(
        "start",
        "s3-walk",
        "--bucket",
        "data-1",
        "--prefix",
        "logs/",
        "--job-id",
        "nightly-1",
        "--max-hops",
        "50",
        "--concurrency",
        "1",
        "--json",
    )
    assert started.exit_code == 0, started.output
    job = json.loads(started.stdout)
    assert job["created"] is True
    assert (job["job_id"], job["status"], job["epoch"], job["hops"]) == (
        "nightly-1",
        "QUEUED",
        1,
        0,
    )
    assert job["params"] == {
        "bucket": "data-1",
        "prefix": "logs/",
        "action": "count",
        "on_error": "fail",
        "max_failed": 1000,
        "concurrency": 1,
    }
    assert job["max_hops"] == 50

    status = baton("status", "nightly-1", "--json")
    assert status.exit_code == 0
    shown = json.loads(status.stdout)
    for key in ("job_id", "status", "epoch", "hops", "counters", "last_error"):
        assert key in shown
    assert shown["counters"] == {} and shown["last_error"] is None

    human = baton("status", "nightly-1")
    assert human.exit_code == 0 and "QUEUED" in human.output and "nightly-1" in human.output


def test_starting_the_same_job_twice_starts_one_chain(aws: list[dict[str, Any]]) -> None:
    """Before any hop the first event is sent again (the claim runs one of them); once a hop
    has claimed the job, starting it again sends nothing."""
    baton("init")
    args = ("start", "s3-walk", "--bucket", "data-1", "--job-id", "once", "--json")
    first, second = baton(*args), baton(*args)
    assert json.loads(first.stdout)["created"] is True
    assert json.loads(second.stdout)["created"] is False
    assert aws == [{"job_id": "once", "epoch": 1}] * 2, "one epoch: one chain"
    store = JobStore(bind_job_model("cli-jobs", REGION, None))
    assert isinstance(store.claim("once", 1, "hop-1", store.clock.now_ms() + 60_000), LeaseHolder)
    third = baton(*args)
    assert third.exit_code == 0 and json.loads(third.stdout)["sent"] is False
    assert len(aws) == 2, "after a hop, no event is sent again"

    conflict = baton("start", "s3-walk", "--bucket", "other-1", "--job-id", "once")
    assert conflict.exit_code == 1
    assert "exists already" in conflict.output and "choose another --job-id" in conflict.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start", "s3-walk"), "needs bucket"),
        (("start", "s3-walk", "--bucket", "UPPER"), "bucket must be an S3 bucket name"),
        (("start", "nope", "--bucket", "b-1"), "unknown task"),
        (("start", "s3-walk", "--bucket", "b-1", "--job-id", "a b"), "job id must match"),
        (("start", "s3-walk", "--bucket", "b-1", "--action", "os:system"), "not allowed"),
        (("start", "s3-walk", "--bucket", "b-1", "--concurrency", "65"), "from 1 to 64"),
        (
            ("start", "s3-walk", "--bucket", "b-1", "--action", "inventory", "--concurrency", "4"),
            "one object at a time",
        ),
        (("start", "s3-walk", "--bucket", "b-1", "--action-params", "{x"), "must be a JSON"),
        (("start", "s3-walk", "--bucket", "b-1", "--max-hops", "0"), "max_hops"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    aws: list[Any], args: tuple[str, ...], message: str
) -> None:
    baton("init")
    result = baton(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert aws == [], "nothing was invoked"


def test_unknown_job_and_missing_table_are_clear_errors(aws: list[Any]) -> None:
    missing_table = baton("status", "whatever")
    assert missing_table.exit_code == 1
    assert "run `baton init`" in missing_table.output
    baton("init")
    unknown = baton("status", "whatever")
    assert unknown.exit_code == 1
    assert "no job 'whatever'" in unknown.output


def test_a_missing_function_leaves_the_job_resumable(aws: list[Any]) -> None:
    baton("init")
    result = baton(
        "start",
        "s3-walk",
        "--bucket",
        "b-1",
        "--job-id",
        "orphan",
        env={"BATON_FUNCTION": "no-such-function"},
    )
    assert result.exit_code == 1
    assert "stored QUEUED at epoch 1" in result.output and "baton resume orphan" in result.output
    assert json.loads(baton("status", "orphan", "--json").stdout)["status"] == "QUEUED"


def test_bad_configuration_names_the_variable(aws: list[Any]) -> None:
    result = baton("status", "x", env={"BATON_TABLE": "no spaces please"})
    assert result.exit_code == 2
    assert "BATON_TABLE" in result.output


def test_init_creates_a_private_state_bucket(aws: list[Any]) -> None:
    result = baton("init", env={"BATON_STATE_BUCKET": "my-state"})
    assert result.exit_code == 0, result.output
    assert "state bucket created my-state" in result.output
    s3 = boto3.client("s3", region_name=REGION)
    block = s3.get_public_access_block(Bucket="my-state")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    again = baton("init", env={"BATON_STATE_BUCKET": "my-state"})
    assert "exists already: my-state" in again.output


def test_report_prints_saves_or_explains_its_absence(aws: list[Any], tmp_path: Any) -> None:
    from baton.store.records import Ending, HopEnd, Progress
    from baton.store.reports import ReportStore

    env = {"BATON_STATE_BUCKET": "my-state"}
    baton("init", env=env)
    baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "done-job", env=env)
    none_yet = baton("report", "done-job", env=env)
    assert none_yet.exit_code == 1 and "has no report: it is QUEUED" in none_yet.output

    store = CliContext(table="cli-jobs").store
    claim = store.claim("done-job", 1, "worker", store.clock.now_ms() + 60_000)
    lines = [{"type": "job", "status": "SUCCEEDED"}, {"type": "failed_object", "key": "k"}]
    ref = ReportStore(boto3.client("s3", region_name=REGION), "my-state").write(
        "done-job", 1, lines
    )
    claim.finish(
        Progress({}, {"objects": 3}),
        HopEnd(3, "finished"),  # type: ignore[arg-type]
        Ending({"objects": 3}, ref),
    )

    printed = baton("report", "done-job", env=env)
    assert printed.exit_code == 0
    assert [json.loads(line) for line in printed.output.splitlines()] == lines
    as_json = baton("report", "done-job", "--json", env=env)
    assert json.loads(as_json.stdout) == lines
    target = tmp_path / "r.jsonl"
    saved = baton("report", "done-job", "-o", str(target), env=env)
    assert saved.exit_code == 0 and target.read_text().count("\n") == 2
    status = json.loads(baton("status", "done-job", "--json", env=env).stdout)
    assert status["summary"] == {"objects": 3} and status["report"]["key"] == ref["key"]


def test_start_retried_after_a_failed_invoke_runs_the_job(aws: list[dict[str, Any]]) -> None:
    """A wrong BATON_FUNCTION: the job is stored QUEUED and the invoke fails. The same start,
    once the variable is fixed, sends the event; until a hop claims the job it may be retried
    again (a duplicate is discarded by the claim)."""
    baton("init")
    args = ("start", "s3-walk", "--bucket", "data-1", "--job-id", "retried")
    failed = baton(*args, env={"BATON_FUNCTION": "no-such-function"})
    assert failed.exit_code == 1 and "no-such-function" in failed.output
    assert aws == []
    again = baton(*args)
    assert again.exit_code == 0, again.output
    assert "first event sent again" in again.output and "baton-worker" in again.output
    assert aws == [{"job_id": "retried", "epoch": 1}]
    store = JobStore(bind_job_model("cli-jobs", REGION, None))
    job = store.get("retried")
    assert (job.status, job.epoch, job.hops) == (JobStatus.QUEUED, 1, 0)
