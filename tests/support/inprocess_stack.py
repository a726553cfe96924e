"""An in-process stack: moto's DynamoDB and S3, the real relay, and LambdaSim delivering events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from baton.handler.config import RelaySettings
from baton.handler.faults import FaultPoints, NoFaults
from baton.handler.launch import launch, prepare
from baton.handler.runtime import CLIENT_CONFIG, Runtime, use_runtime
from baton.store.audit import CommitEvent
from baton.store.codec import StateCodec
from baton.store.job_store import JobStore
from baton.store.model import bind_job_model
from baton.store.records import Job
from baton.store.reports import ReportStore
from tests.support.lambda_sim import FUNCTION, LambdaSim
from tests.support.virtual_clock import VirtualClock

REGION = "us-east-1"
TEST_ACTIONS = "tests.support.actions"


@dataclass
class Stack:
    clock: VirtualClock
    store: JobStore
    sim: LambdaSim
    runtime: Runtime
    commits: list[CommitEvent] = field(default_factory=list)

    def start(self, params: dict[str, Any], task: str = "s3-walk", **options: Any) -> Job:
        """Create and launch a job; an s3-walk that names no action walks with `visit`
        one object at a time (tests.support.actions: one object per step, so hops grow with the
        objects)."""
        if task == "s3-walk":
            params = {"action": f"{TEST_ACTIONS}:visit", "concurrency": 1, **params}
        spec = prepare(
            task,
            params,
            action_modules=self.runtime.settings.action_modules,
            task_modules=self.runtime.settings.task_modules,
            now_ms=self.clock.now_ms(),
            **options,
        )
        return launch(self.store, self.runtime.lambda_client, FUNCTION, spec).job

    def job(self, job_id: str) -> Job:
        return self.store.get(job_id)


@contextmanager
def local_stack(
    *,
    timeout_ms: int = 2_000,
    min_margin_ms: int = 300,
    checkpoint_s: int = 1,
    tick_ms: int = 15,
    faults: FaultPoints | None = None,
    state_bucket: str | None = None,
    action_modules: tuple[str, ...] = (TEST_ACTIONS,),
    table: str | None = None,
    inline_limit: int | None = None,
    task_modules: tuple[str, ...] = (),
    codec: StateCodec | None = None,
    dynamodb: Any = None,
) -> Iterator[Stack]:
    """Must run inside mock_aws. Each stack gets a table of its own (named `table`, else
    random), and a state bucket if one is named: spilled states and reports go there."""
    clock = VirtualClock(tick_ms=tick_ms)
    commits: list[CommitEvent] = []
    model = bind_job_model(table or f"jobs-{uuid.uuid4().hex[:12]}", REGION, None)
    s3 = boto3.client("s3", region_name=REGION, config=CLIENT_CONFIG)
    reports = None
    if state_bucket:
        s3.create_bucket(Bucket=state_bucket)
        if codec is None:
            codec = (
                StateCodec(s3, state_bucket)
                if inline_limit is None
                else StateCodec(s3, state_bucket, inline_limit=inline_limit)
            )
        reports = ReportStore(s3, state_bucket)
    codec = codec or StateCodec()
    store = JobStore(model, clock, audit=commits.append, codec=codec)
    store.ensure_table()
    sim = LambdaSim(clock, timeout_ms)
    lambda_client = boto3.client("lambda", region_name=REGION)
    sim.attach(lambda_client)
    runtime = Runtime(
        settings=RelaySettings(
            min_margin_ms=min_margin_ms,
            checkpoint_s=checkpoint_s,
            action_modules=action_modules,
            task_modules=task_modules,
        ),
        store=store,
        s3=s3,
        reports=reports,
        lambda_client=lambda_client,
        clock=clock,
        faults=faults or NoFaults(),
        sleep=lambda seconds: clock.advance(int(seconds * 1000)),
        dynamodb=dynamodb or boto3.client("dynamodb", region_name=REGION),
    )
    use_runtime(runtime)
    try:
        yield Stack(clock=clock, store=store, sim=sim, runtime=runtime, commits=commits)
    finally:
        use_runtime(None)
