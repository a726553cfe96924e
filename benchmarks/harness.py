"""The pieces every figure uses: the server, clients, the job store, and three ways to walk a
bucket (baton's relay in this process, a plain boto3 loop, and the bare listing).

The relay runs here, in the benchmark's own process, through `baton.handler.relay.Relay` with a real
`Runtime` (the same objects a Lambda worker builds), so its time is measured without process
hops or HTTP to a Lambda service in the way; the local Lambda service is used where hand-offs
themselves are the figure (`benchmarks.handoff`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Quiet and unbuffered relay: no per-invocation INFO logs or EMF metrics on the benchmark's stdout.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.setdefault(_name, "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse, HTTPHeaders  # noqa: E402
from botocore.config import Config  # noqa: E402

from baton.handler.config import RelaySettings  # noqa: E402
from baton.handler.event import RelayEvent  # noqa: E402
from baton.handler.launch import prepare  # noqa: E402
from baton.handler.observability import metrics  # noqa: E402
from baton.handler.relay import Relay  # noqa: E402
from baton.handler.runtime import (  # noqa: E402
    S3_CLIENT_CONFIG,
    Runtime,
    freeze_init_heap,
    worker_session,
)
from baton.store.audit import AuditSink  # noqa: E402
from baton.store.clock import wall_ms as now_ms  # noqa: E402
from baton.store.codec import StateCodec  # noqa: E402
from baton.store.job_store import JobStore  # noqa: E402
from baton.store.model import bind_job_model  # noqa: E402
from baton.store.records import Job  # noqa: E402
from benchmarks.server import BenchServer  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from baton.local.lambda_service.function_config import FunctionConfig
    from baton.local.stack import LocalStack

REGION = "us-east-1"
TABLE = "baton-bench"
STATE_BUCKET = "baton-bench-state"
FUNCTION = "baton-worker"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
ACTIONS = "benchmarks.actions"
MAX_KEYS = 1_000


@dataclass
class BenchContext:
    """Lambda's context object as the relay reads it, with a real deadline."""

    deadline_ms: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = FUNCTION
    invoked_function_arn: str = FUNCTION_ARN
    memory_limit_in_mb: int = 1024

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - now_ms())


class Env:
    """One benchmark server and the clients and store bound to it."""

    def __init__(self, workdir: Path, url: str | None = None) -> None:
        self.workdir = workdir
        self.server = BenchServer(workdir / "moto.log")
        self._url = url  # set: use a server another process started
        self._s3: Any = None
        self._worker_s3: Any = None

    def __enter__(self) -> Env:
        self.server.start()
        self.s3.create_bucket(Bucket=STATE_BUCKET)
        self.store().ensure_table()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self._url or self.server.url

    def client(self, service: str, url: str | None = None) -> Any:
        return boto3.session.Session(region_name=REGION).client(
            service,  # type: ignore[call-overload]
            endpoint_url=url or self.url,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": 4},
                max_pool_connections=64,  # the concurrency figure runs 32 at once
            ),
        )

    def worker_s3(self) -> S3Client:
        """An S3 client made as a Lambda worker makes its own (`baton.handler.runtime`: its session,
        its connection pool and retries), on this server: the relay's, never the plain loop's,
        which is what a user writes with boto3's defaults."""
        if self._worker_s3 is None:
            self._worker_s3 = worker_session(REGION).client(
                "s3",
                endpoint_url=self.url,
                config=S3_CLIENT_CONFIG.merge(Config(s3={"addressing_style": "path"})),
            )
        s3: S3Client = self._worker_s3
        return s3

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = self.client("s3")
        s3: S3Client = self._s3
        return s3

    def store(self, audit: AuditSink | None = None, codec: StateCodec | None = None) -> JobStore:
        model = bind_job_model(TABLE, REGION, self.url)
        return JobStore(model, audit=audit, codec=codec or StateCodec(self.s3, STATE_BUCKET))

    def bucket(self, name: str, count: int, size: int = 300) -> str:
        """A bucket of `count` objects (created once; moto's backend is filled directly)."""
        self.s3.create_bucket(Bucket=name)
        self.server.fill(name, count, size=size)
        return name

    def local_stack(
        self, function: FunctionConfig, *, min_margin_ms: int, checkpoint_s: int
    ) -> LocalStack:
        """The local stack with its workers on this server (where hand-offs are the figure):
        the benchmark's table, state bucket and actions, quiet logs, no EMF metrics."""
        from baton.local.stack import LocalStack

        return LocalStack(
            function=function,
            table=TABLE,
            state_bucket=STATE_BUCKET,
            min_margin_ms=min_margin_ms,
            checkpoint_s=checkpoint_s,
            action_modules=(ACTIONS,),
            log_level="WARNING",
            worker_env={
                "AWS_ENDPOINT_URL_DYNAMODB": self.url,
                "AWS_ENDPOINT_URL_S3": self.url,
                "POWERTOOLS_METRICS_DISABLED": "true",
            },
        )


class InvokeCatcher:
    """Catches the relay's self-invoke with a botocore hook (no patching), like Lambda's queue."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.events.append(json.loads(params["body"]))
        response = AWSResponse("https://lambda.bench", 202, HTTPHeaders(), None)
        return response, {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}


@dataclass
class ChainResult:
    job: Job
    seconds: float
    hops: int
    outcomes: list[str]
    errors: list[str] = field(default_factory=list)  # failed attempts, retried like Lambda


class RelayRunner:
    """Runs s3-walk jobs through `Relay` in this process, hop after hop."""

    def __init__(
        self,
        env: Env,
        *,
        checkpoint_s: float = 10,
        min_margin_ms: int = 10_000,
        audit: AuditSink | None = None,
    ) -> None:
        self.env = env
        self.catcher = InvokeCatcher()
        lambda_client = env.client("lambda", url="http://127.0.0.1:9")  # never reached
        lambda_client.meta.events.register("before-call.lambda.Invoke", self.catcher)
        settings = RelaySettings(
            function_name=FUNCTION,
            min_margin_ms=min_margin_ms,
            # BATON_CHECKPOINT_S takes whole seconds from 1; the sweep also tries shorter ones.
            checkpoint_s=checkpoint_s,  # type: ignore[arg-type]
            action_modules=(ACTIONS,),
        )
        self.store = env.store(audit=audit)
        self.runtime = Runtime(
            settings=settings, store=self.store, s3=env.worker_s3(), lambda_client=lambda_client
        )
        # As a worker does at the end of its init (baton.handler.app.warm_at_init). The plain
        # loops run in this process too, so they walk under the same collector.
        freeze_init_heap()

    def start(self, bucket: str, action: str = "count", **params: Any) -> Job:
        spec = prepare(
            "s3-walk",
            {"bucket": bucket, "action": action, **params},
            action_modules=(ACTIONS,),
            now_ms=now_ms(),
        )
        job, _ = self.store.create(spec)
        return job

    def run(self, job: Job, hop_ms: int = 900_000, max_hops: int = 10_000) -> ChainResult:
        """Run the job to its end, each hop with `hop_ms` of Lambda time; time it."""
        epoch = job.epoch
        outcomes: list[str] = []
        errors: list[str] = []
        started = time.perf_counter()
        for _ in range(max_hops):
            context = BenchContext(deadline_ms=now_ms() + hop_ms)
            relay = Relay(self.runtime, RelayEvent(job_id=job.job_id, epoch=epoch), context)
            try:
                result = relay.run()
            except Exception as exc:  # the relay re-raises a task error for Lambda to retry
                errors.append(f"{type(exc).__name__}: {exc}")
                outcomes.append("error")
                continue  # Lambda's async retry: the same epoch, from the last checkpoint
            finally:
                metrics.clear_metrics()  # what Lambda's per-invocation flush would empty
            outcomes.append(result["outcome"])
            if result["outcome"] != "handed_off":
                break
            epoch = self.catcher.events[-1]["epoch"]
        seconds = time.perf_counter() - started
        final = self.store.get(job.job_id)
        return ChainResult(final, seconds, len(outcomes), outcomes, errors)


def one_at_a_time(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with `concurrency: 1` where this build's task takes it (a custom action runs
    several objects at once by default there): figures about hops and shards compare like
    with like, one object at a time, whatever the build."""
    from baton.handler.launch import prepare
    from baton.store.errors import InvalidJob

    serial = {**params, "concurrency": 1}
    try:
        prepare(task, serial, action_modules=(ACTIONS,), now_ms=now_ms())
    except InvalidJob:
        return params
    return serial


@dataclass
class WalkResult:
    objects: int
    bytes: int
    seconds: float
    pages: int

    @property
    def rate(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0


def _pages(s3: Any, bucket: str) -> Iterator[list[dict[str, Any]]]:
    """ListObjectsV2 pages as a plain loop lists them: MaxKeys 1,000, StartAfter the last key."""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": "", "MaxKeys": MAX_KEYS}
    while True:
        page = s3.list_objects_v2(**request)
        contents: list[dict[str, Any]] = page.get("Contents", [])
        yield contents
        if not page.get("IsTruncated", False) or not contents:
            return
        request["StartAfter"] = contents[-1]["Key"]


def plain_walk(
    s3: Any, bucket: str, action: Callable[[dict[str, Any]], None] | None = None
) -> WalkResult:
    """What a user writes without baton: the same ListObjectsV2 requests (MaxKeys 1,000,
    StartAfter the last key), the same per-object work (count objects and bytes)."""
    objects = size = pages = 0
    started = time.perf_counter()
    for contents in _pages(s3, bucket):
        pages += 1
        for item in contents:
            if action is not None:
                action(item)
            objects += 1
            size += int(item.get("Size", 0))
    return WalkResult(objects, size, time.perf_counter() - started, pages)


def best_walk(
    s3: Any, bucket: str, action: Callable[[dict[str, Any]], None] | None = None
) -> WalkResult:
    """The best loop a user could write without baton, the anchor of baton's verdicts: the
    same requests and per-object work as `plain_walk`, on a client that reads timestamps as
    fast as baton's (pass `Env.worker_s3()`), and the next page requested (on one background
    thread) as soon as this one arrives, so its round trip overlaps the work on this one."""
    objects = size = pages = 0
    started = time.perf_counter()
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": "", "MaxKeys": MAX_KEYS}
    with ThreadPoolExecutor(1) as pool:
        ahead: Future[Any] | None = pool.submit(s3.list_objects_v2, **request)
        while ahead is not None:
            page = ahead.result()
            contents: list[dict[str, Any]] = page.get("Contents", [])
            ahead = None
            if page.get("IsTruncated", False) and contents:
                request["StartAfter"] = contents[-1]["Key"]
                ahead = pool.submit(s3.list_objects_v2, **request)
            pages += 1
            for item in contents:
                if action is not None:
                    action(item)
                objects += 1
                size += int(item.get("Size", 0))
    return WalkResult(objects, size, time.perf_counter() - started, pages)


def raw_listing(s3: Any, bucket: str) -> WalkResult:
    """The bare ListObjectsV2 paging rate with boto3's defaults: what a plain loop could reach
    with no per-object work (baton's client, which parses faster, can pass it)."""
    objects = pages = 0
    started = time.perf_counter()
    for contents in _pages(s3, bucket):
        pages += 1
        objects += len(contents)
    return WalkResult(objects, 0, time.perf_counter() - started, pages)


@contextmanager
def injected_latency(env: Env, between_ms: tuple[float, float]) -> Iterator[None]:
    """Every S3 request waits between_ms[0]..between_ms[1] ms in the server while inside."""
    env.server.latency(*between_ms)
    try:
        yield
    finally:
        env.server.latency(0, 0)


@contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)
