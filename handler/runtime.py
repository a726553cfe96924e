"""Everything the relay needs, made once per process and reused across warm invocations.

Only clients and configuration live here; nothing job-specific survives an invocation.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

from baton.handler.config import RelaySettings
from baton.handler.faults import FaultPoints, NoFaults
from baton.handler.tasks.framework.registry import load_task_modules
from baton.handler.tasks.framework.work_pool import MAX_WORKERS, PoolFactory, ThreadWorkPool
from baton.store.clock import Clock, SystemClock
from baton.store.config import StoreSettings, resolve_region
from baton.store.errors import InvalidJob
from baton.store.job_store import JobStore
from baton.store.model import connect
from baton.store.reports import ReportStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=5,
    read_timeout=30,
)
# The S3 client is shared by a hop's pool of workers, the listing's page-ahead worker and the
# relay's own thread: botocore keeps 10 connections by default, so at `concurrency` above about
# 8 workers would queue for a connection instead of waiting on S3 (connections are opened only
# when needed; the pool's size is a cap, not a cost).
S3_CONNECTIONS = MAX_WORKERS + 2
S3_CLIENT_CONFIG = CLIENT_CONFIG.merge(Config(max_pool_connections=S3_CONNECTIONS))


def read_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with ISO 8601 read by `datetime.fromisoformat`.

    Every listed object's `LastModified` is an ISO 8601 string, and botocore's default parser
    (dateutil) took most of the client's CPU per listed key (about 55 of 78 ms per 1,000-key
    page, measured); `fromisoformat` reads it in about a microsecond. Anything it does not read
    as a time with a zone (HTTP dates, epoch numbers, a naive time) goes to the default, so
    results are the same instants, only `timezone.utc` instead of dateutil's `tzutc()`.
    """
    parsed = iso_time_with_zone(value)
    if parsed is not None:
        return parsed
    result: datetime = DEFAULT_TIMESTAMP_PARSER(value)
    return result


def iso_time_with_zone(value: Any) -> datetime | None:
    """`value` read by `datetime.fromisoformat` when it is an ISO 8601 time with a zone, else
    None (the caller's slower, general parser decides)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def worker_session(region: str | None = None) -> boto3.session.Session:
    """The boto3 session a worker's clients come from: responses' timestamps read fast.

    A sandbox makes one and builds every client from it (the store's DynamoDB client included):
    botocore then reads its data files (endpoint rules, partitions, service models) once."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=read_timestamp
    )
    return boto3.session.Session(botocore_session=core, region_name=region)


# The hand-off invoke is retried by SelfInvoker, which checks the time left before each try;
# botocore's own retries and long timeouts would sleep past the hop's deadline unseen.
INVOKE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 1},
    connect_timeout=2,
    read_timeout=3,
)


@dataclass
class Runtime:
    settings: RelaySettings
    store: JobStore
    s3: S3Client
    lambda_client: LambdaClient
    clock: Clock = field(default_factory=SystemClock)
    faults: FaultPoints = field(default_factory=NoFaults)
    sleep: Callable[[float], None] = time.sleep
    reports: ReportStore | None = None
    pools: PoolFactory = ThreadWorkPool
    # A client for the user's tables (dynamodb-scan, user tasks); the jobs table has its own.
    dynamodb: DynamoDBClient | None = None

    @classmethod
    def from_env(cls) -> Runtime:
        """The worker's clients, from one botocore session: the store's DynamoDB client, S3
        (tasks and spilled states share it) and Lambda (the hand-off). A client for the user's
        own tables is built when a task first asks for it."""
        session = worker_session()
        region = resolve_region(session)
        store_settings = StoreSettings.from_env()
        s3 = session.client("s3", region_name=region, config=S3_CLIENT_CONFIG)
        bucket = store_settings.state_bucket
        settings = RelaySettings.from_env()
        # User task modules are imported now, while the sandbox initialises (never per hop):
        # an import error surfaces once, as a clear failure of the job that named the task.
        with contextlib.suppress(InvalidJob):
            load_task_modules(settings.task_modules)
        store = JobStore.from_settings(store_settings, session=session, s3=s3)
        connect(store.model, session._session)
        user_tables = LazyClient(
            lambda: session.client("dynamodb", region_name=region, config=CLIENT_CONFIG)
        )
        return cls(
            settings=settings,
            store=store,
            s3=s3,
            lambda_client=session.client("lambda", region_name=region, config=INVOKE_CONFIG),
            reports=ReportStore(s3, bucket) if bucket else None,
            dynamodb=cast("DynamoDBClient", user_tables),
        )


class LazyClient:
    """A client built on its first use: the worker's client for the user's own tables, which
    most jobs never touch and every cold start would otherwise pay for. Any attribute (an
    operation, `meta`, `exceptions`) builds it once and is read from it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:  # a hop's pool of threads may ask at once: build one client
                if self._client is None:
                    self._client = self._build()
        return getattr(self._client, name)


@dataclass(frozen=True)
class WatchdogRuntime:
    """The watchdog's clients: the store (no state: a sweep never reads one) and Lambda."""

    store: JobStore
    lambda_client: LambdaClient
    function_name: str

    @classmethod
    def from_env(cls) -> WatchdogRuntime:
        session = worker_session()
        store = JobStore.from_settings(StoreSettings.from_env(), session=session, states=False)
        connect(store.model, session._session)
        return cls(
            store=store,
            lambda_client=session.client(
                "lambda", region_name=resolve_region(session), config=INVOKE_CONFIG
            ),
            function_name=RelaySettings.from_env().function_name,
        )


def freeze_init_heap() -> None:
    """Take everything built so far (modules, botocore's service models, the clients: about
    180,000 objects in a worker) out of the garbage collector's full collections.

    A full collection traverses every tracked object. During a hop it finds nothing of the
    init's to free, yet it cost about 100 ms of CPU each time on a loaded machine (in the
    benchmark's process, about once per `count` walk of 5,000 objects: as much as baton's
    whole per-object work). Frozen objects are never collected (they live as long as the
    process anyway), so this runs once, at the end of the worker's init."""
    gc.freeze()


_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _current  # noqa: PLW0603 - one runtime per process, as Lambda reuses sandboxes
    if _current is None:
        _current = Runtime.from_env()
    return _current


_watchdog: WatchdogRuntime | None = None


def get_watchdog_runtime() -> WatchdogRuntime:
    """The watchdog's clients: those of an installed runtime (tests, simulators), else its own,
    built from the environment on first use."""
    global _watchdog  # noqa: PLW0603 - one per process, as Lambda reuses sandboxes
    if _current is not None:
        rt = _current
        return WatchdogRuntime(rt.store, rt.lambda_client, rt.settings.function_name)
    if _watchdog is None:
        _watchdog = WatchdogRuntime.from_env()
    return _watchdog


def use_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests, simulators, the local worker), or None to rebuild from env."""
    global _current  # noqa: PLW0603
    _current = runtime
