"""The scenarios whose AWS calls the IAM test (tests/test_iam_from_code.py) holds the template to.

Each scenario drives the real code in process against moto: the worker (`baton.handler.app`, events
delivered by LambdaSim), the watchdog (`baton.handler.watchdog.lambda_handler`) and the operator
(`baton ...` through typer). Every call is recorded with the principal that sent it: the role
or policy that must allow it on AWS. Names follow a stack called "baton": table baton-jobs,
function baton-worker, state bucket baton-state, queue baton-failed-events.

Adding a scenario for a new task is one line in SCENARIOS: a name, a function taking the World,
and the template parameters it needs (e.g. {"ScanTables": "users"}).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler import watchdog as watchdog_handler
from baton.store.constants import STATE_INLINE_LIMIT_BYTES
from baton.store.records import JobStatus
from tests.support import growing_task as _grow_task  # noqa: F401 - registers the "grow" task
from tests.support import lambda_sim
from tests.support.aws_calls import Recorder, recording
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import FUNCTION, FUNCTION_ARN, FakeContext
from tests.test_operator import operate

REGION = "us-east-1"
STACK_NAME = "baton"
TABLE = "baton-jobs"
STATE_BUCKET = "baton-state"
QUEUE = "baton-failed-events"
WALK_BUCKET = "walk-me"  # walked with list-only actions: the ListBuckets parameter
PREFIXES = ("p0/", "p1/", "p2/")

runner = CliRunner()


@dataclass
class World:
    """One in-process deployment of baton, and who is acting."""

    stack: Stack
    recorder: Recorder
    queue_url: str
    killed: bool = False
    log: list[str] = field(default_factory=list)

    def baton(self, *args: str) -> Any:
        """Run `baton ARGS` as the operator; fail the scenario on a non-zero exit."""
        with self.recorder.acting_as("operator"):
            result = runner.invoke(app, list(args))
        self.log.append(f"baton {' '.join(args)} -> {result.exit_code}")
        assert result.exit_code == 0, f"baton {' '.join(args)}:\n{result.output}"
        return result

    def baton_json(self, *args: str) -> Any:
        return json.loads(self.baton(*args, "--json").stdout)

    def drain(self) -> None:
        """Deliver every queued event to the worker; refused ones go to the on-failure queue."""
        with self.recorder.acting_as("worker"):
            self.stack.sim.drain()
        self._dead_letters()

    def sweep(self) -> dict[str, Any]:
        """One scheduled watchdog sweep, 10 minutes on."""
        self.stack.clock.advance(600_000)
        context = FakeContext(self.stack.clock, self.stack.clock.now_ms() + 300_000)
        context.function_name = "baton-watchdog"
        with self.recorder.acting_as("watchdog"):
            result: dict[str, Any] = watchdog_handler.lambda_handler({}, context)
        return result

    def _dead_letters(self) -> None:
        """What Lambda itself sends to the on-failure destination (not the code: not recorded)."""
        sqs = boto3.client("sqs", region_name=REGION)
        lost = [(e, "RetriesExhausted", 3) for e in self.stack.sim.lost]
        lost += [(d.event, "RetriesExhausted", d.attempt + 1) for d in self.stack.sim.dead_letters]
        self.stack.sim.lost.clear()
        self.stack.sim.dead_letters.clear()
        for event, condition, attempts in lost:
            record = {
                "version": "1.0",
                "timestamp": "2027-01-15T10:00:00.000Z",
                "requestContext": {
                    "requestId": "r-" + str(event.get("epoch")),
                    "functionArn": f"{FUNCTION_ARN}:$LATEST",
                    "condition": condition,
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 429, "executedVersion": "$LATEST"},
            }
            sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(record))

    def deliver(self, n: int) -> None:
        """Deliver the next `n` queued events only."""
        with self.recorder.acting_as("worker"):
            for _ in range(n):
                self.stack.sim.deliver(self.stack.sim.queue.popleft())

    @contextmanager
    def slow_clock(self, tick_ms: int = 350) -> Iterator[None]:
        """Every clock reading costs `tick_ms`: hops end after a few steps and hand off."""
        saved, self.stack.clock.tick_ms = self.stack.clock.tick_ms, tick_ms
        try:
            yield
        finally:
            self.stack.clock.tick_ms = saved

    @contextmanager
    def on_alias(self, alias: str) -> Iterator[None]:
        """Deliver events as Lambda does to a function invoked through `alias`."""

        @dataclass
        class AliasContext(FakeContext):
            invoked_function_arn: str = f"{FUNCTION_ARN}:{alias}"

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(lambda_sim, "FakeContext", AliasContext)
            yield

    def job(self, job_id: str) -> Any:
        return self.stack.store.get(job_id)


# ------------------------------------------------------------------ the scenarios


def walk_and_report(w: World) -> None:
    """A list-only walk, its status, the job list and its report."""
    w.baton("start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", "walk")
    w.drain()
    assert w.job("walk").status is JobStatus.SUCCEEDED
    w.baton("status", "walk")
    w.baton("list")
    w.baton("list", "--status", "SUCCEEDED", "--limit", "1")
    w.baton("history", "walk")
    w.baton("watch", "walk", "--timeout", "5")
    w.baton("report", "walk")


def fan_out(w: World) -> None:
    """A fan-out parent polls its shards (BatchGetItem); the operator reads the parent."""
    shard_args = [a for p in PREFIXES for a in ("--shard-prefix", p)]
    w.baton(
        "start", "s3-fanout", "--bucket", WALK_BUCKET, "--action", "count", "--split", "prefixes",
        *shard_args, "--max-concurrency", "2", "--job-id", "fan",
    )  # fmt: skip
    w.drain()
    parent = w.job("fan")
    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    w.baton("status", "fan")
    w.baton("report", "fan")


def spill(w: World) -> None:
    """A state too large for the item: spilled to the state bucket, read back by the next hop,
    the superseded object deleted."""
    with w.slow_clock(), w.recorder.acting_as("operator"):
        w.stack.start({"seed": "big", "steps": 12, "size": 40_000}, task="grow", job_id="big")
    with w.slow_clock():
        w.drain()
    job = w.job("big")
    assert job.status is JobStatus.SUCCEEDED and job.state_ref is not None, job.last_error
    assert job.hops >= 2, job.hops
    w.baton("status", "big")


def fan_out_cascade(w: World) -> None:
    """Pausing and resuming a fan-out whose state spilled: the CLI reads it to find the shards."""
    w.stack.store.codec.inline_limit = 64
    try:
        w.baton(
            "start", "s3-fanout", "--bucket", WALK_BUCKET, "--action", "count", "--split",
            "prefixes", *[a for p in PREFIXES for a in ("--shard-prefix", p)], "--job-id", "fan2",
        )  # fmt: skip
        w.deliver(1)  # the parent plans and starts its shards
        assert w.job("fan2").state_ref is not None
        w.baton("pause", "fan2")
        w.drain()
        w.baton("resume", "fan2")
        w.drain()
    finally:
        w.stack.store.codec.inline_limit = STATE_INLINE_LIMIT_BYTES
    assert w.job("fan2").status is JobStatus.SUCCEEDED


def on_an_alias(w: World) -> None:
    """A chain invoked through an alias hands off to the same alias."""
    with w.on_alias("live"), w.slow_clock():
        w.baton(
            "start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", "alias"
        )
        w.drain()
    assert w.job("alias").hops >= 2


def pause_resume_cancel(w: World) -> None:
    for job_id in ("paused", "cancelled"):
        w.baton(
            "start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", job_id
        )
    w.baton("pause", "paused")
    w.baton("cancel", "cancelled")
    w.drain()
    assert w.job("paused").status is JobStatus.PAUSED
    w.baton("resume", "paused")
    w.drain()
    assert w.job("paused").status is JobStatus.SUCCEEDED
    assert w.job("cancelled").status is JobStatus.CANCELLED


def watchdog_restarts(w: World) -> None:
    """An event lost on the way: the watchdog finds the job QUEUED and sends it again."""
    w.stack.sim.lose = lambda event: event.get("job_id") == "lost"
    w.baton("start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", "lost")
    w.stack.sim.lose = lambda event: False
    w.stack.sim.lost.clear()  # lost in transit, not refused: nothing reaches the queue
    actions = w.sweep()["actions"]
    assert [a["job_id"] for a in actions] == ["lost"], actions
    w.drain()
    assert w.job("lost").status is JobStatus.SUCCEEDED
    w.baton("watchdog", "--once")


def kill_switch_and_failed_events(w: World) -> None:
    """The kill switch refuses events to the queue; the runbook resumes their jobs."""
    w.baton("kill-switch", "on")
    w.stack.sim.lose = lambda event: True
    w.baton("start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", "k1")
    w.drain()
    assert w.sweep()["actions"] == []  # the watchdog stands down
    w.baton("kill-switch", "status")
    listed = w.baton_json("failed-events", "list")
    assert [e["job_id"] for e in listed] == ["k1"], listed
    w.baton("kill-switch", "off")
    w.stack.sim.lose = lambda event: False
    w.baton("failed-events", "resume")
    w.drain()
    assert w.job("k1").status is JobStatus.SUCCEEDED
    assert w.baton_json("failed-events", "list") == []
    w.baton("failed-events", "delete", "k1")
    w.baton("failed-events", "delete", "--all")


def init_on_the_stack(w: World) -> None:
    """`baton init` against a deployed stack finds the table and the bucket there."""
    w.baton("init")


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[World], None]
    parameters: dict[str, str] = field(default_factory=dict)


SCENARIOS = [
    Scenario("walk-and-report", walk_and_report, {"ListBuckets": WALK_BUCKET}),
    Scenario("fan-out", fan_out, {"ListBuckets": WALK_BUCKET}),
    Scenario("spill", spill),
    Scenario("fan-out-cascade", fan_out_cascade, {"ListBuckets": WALK_BUCKET}),
    Scenario("alias", on_an_alias, {"ListBuckets": WALK_BUCKET}),
    Scenario("pause-resume-cancel", pause_resume_cancel, {"ListBuckets": WALK_BUCKET}),
    Scenario("watchdog", watchdog_restarts, {"ListBuckets": WALK_BUCKET}),
    Scenario("kill-switch-and-failed-events", kill_switch_and_failed_events),
    Scenario("init", init_on_the_stack),
]


def template_parameters(scenarios: list[Scenario]) -> dict[str, str]:
    """The union of what the scenarios need, comma-joined per list parameter."""
    merged: dict[str, list[str]] = {}
    for scenario in scenarios:
        for name, value in scenario.parameters.items():
            for item in value.split(","):
                if item not in merged.setdefault(name, []):
                    merged[name].append(item)
    return {name: ",".join(values) for name, values in merged.items()}


# ------------------------------------------------------------------ the world


def _fill_buckets() -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=WALK_BUCKET)
    for prefix in PREFIXES:
        for i in range(6):
            s3.put_object(Bucket=WALK_BUCKET, Key=f"{prefix}{i:03d}.dat", Body=b"z" * (i * 7))


def _deploy_worker_function() -> None:
    """The worker as moto's Lambda knows it, so the concurrency calls find it."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="baton-worker-role", AssumeRolePolicyDocument="{}")["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("baton/handler/__init__.py", "")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="baton.handler.app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )


@contextmanager
def world() -> Iterator[World]:
    """Inside mock_aws: the deployment, with every AWS call recorded by principal."""
    with ExitStack() as stack_of, recording() as recorder:
        stack = stack_of.enter_context(
            local_stack(table=TABLE, state_bucket=STATE_BUCKET, timeout_ms=1_500, tick_ms=15)
        )
        _fill_buckets()
        _deploy_worker_function()
        queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName=QUEUE)[
            "QueueUrl"
        ]
        patch = stack_of.enter_context(pytest.MonkeyPatch.context())
        operate(stack, patch)
        patch.setenv("BATON_TABLE", TABLE)
        patch.setenv("BATON_FUNCTION", FUNCTION)
        patch.setenv("BATON_STATE_BUCKET", STATE_BUCKET)
        patch.setenv("BATON_FAILED_EVENTS_QUEUE", queue_url)
        yield World(stack=stack, recorder=recorder, queue_url=queue_url)
