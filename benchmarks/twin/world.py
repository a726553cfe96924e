"""One twin world: the fakes of S3, DynamoDB and Lambda around baton's real code, on one clock.

    with mock_aws():
        world = World(buckets={"big": space}, reserved=300)
        job_id = world.start("s3-fanout", {...})
        world.run()
        outcome = world.outcome(job_id)

The relay, the tasks, the store's conditional writes and the watchdog are baton's own; the
clients are real boto3 clients whose calls the fakes answer or time (botocore hooks, nothing
patched). moto holds the jobs table and the state bucket.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3

from baton.handler.app import lambda_handler
from baton.handler.config import RelaySettings
from baton.handler.launch import launch, prepare
from baton.handler.observability import logger
from baton.handler.runtime import CLIENT_CONFIG, INVOKE_CONFIG, Runtime, use_runtime
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.codec import StateCodec
from baton.store.job_store import JobStore
from baton.store.model import JobModel, bind_job_model
from baton.store.records import TERMINAL_STATUSES, Job
from benchmarks.twin.dynamodb import DynamoDBTwin, item_level_transactions
from benchmarks.twin.keyspace import KeySpace
from benchmarks.twin.lambda_service import FUNCTION, LambdaTwin
from benchmarks.twin.s3 import S3Twin
from benchmarks.twin.scheduler import Loop

REGION = "us-east-1"
TABLE = "twin-jobs"
STATE_BUCKET = "twin-state"
ACTION_MODULES = ("benchmarks.twin.actions",)
WATCHDOG_EVERY_S = 300  # infra/template.yaml WatchdogSchedule default: rate(5 minutes)
SAMPLE_EVERY_S = 10
T = TypeVar("T")
# Each world binds a table of its own: the store's bound models (and so their DynamoDB clients)
# are cached by table name, and a client shared with an earlier world would keep that world's
# hooks, answering on a clock that no longer moves (no latency, one endless second of
# partition throughput, so every write throttled).
_WORLDS = itertools.count()


class LoopClock:
    """baton.store.clock.Clock on the twin's virtual clock."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def now_ms(self) -> int:
        return self.loop.now


class TwinPool:
    """A hop's work pool in virtual time: submitted work runs, in order, when it is waited for
    (threads do not fit a clock that moves only between actors)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._work: dict[Future[Any], Callable[[], Any]] = {}
        self._settled = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._work[future] = fn
        return future

    def settled(self) -> int:
        return self._settled

    def pending(self) -> int:
        return len(self._work)

    def wait_settled(self, seen: int, timeout_s: float | None) -> None:
        if not self._work or self._settled > seen:
            return
        future = next(iter(self._work))
        fn = self._work.pop(future)
        self._settled += 1
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except Exception as exc:
            future.set_exception(exc)

    def close(self) -> None:
        for future in self._work:
            future.cancel()
        self._work.clear()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Thousands of invocations: no log lines, no EMF documents, no warnings."""
    before = logger.log_level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(_Discard()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(before)


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@dataclass
class Sample:
    t_s: float
    objects: int
    running: int


class World:
    """Call inside `moto.mock_aws()`."""

    def __init__(
        self,
        *,
        buckets: dict[str, KeySpace],
        reserved: int | None = None,
        timeout_s: int = 900,
        memory_mb: int = 1024,
        checkpoint_s: int = 10,
        min_margin_ms: int = 10_000,
        throttle: bool = True,
        watchdog: bool = True,
    ) -> None:
        self.loop = Loop()
        item_level_transactions()
        self.table = f"{TABLE}-{next(_WORLDS)}"
        self.model: type[JobModel] = bind_job_model(self.table, REGION, None)
        JobStore(self.model).ensure_table()
        ddb_client = self.model._get_connection().connection.client
        self.s3_client = boto3.client("s3", region_name=REGION, config=CLIENT_CONFIG)
        self.s3_client.create_bucket(Bucket=STATE_BUCKET)
        self.lambda_client = boto3.client("lambda", region_name=REGION, config=INVOKE_CONFIG)
        self.clock = LoopClock(self.loop)
        self.store = JobStore(
            self.model, self.clock, codec=StateCodec(self.s3_client, STATE_BUCKET)
        )
        self.s3 = S3Twin(self.loop, dict(buckets))
        self.s3.install(self.s3_client)
        self.ddb = DynamoDBTwin(self.loop, self.table, REGION, throttle=throttle)
        self.ddb.install(ddb_client)
        self.lam = LambdaTwin(
            self.loop, lambda_handler, timeout_s=timeout_s, memory_mb=memory_mb, reserved=reserved
        )
        self.lam.install(self.lambda_client)
        self.lam.classify = self._classify
        self.runtime = Runtime(
            settings=RelaySettings(
                function_name=FUNCTION,
                min_margin_ms=min_margin_ms,
                checkpoint_s=checkpoint_s,
                action_modules=ACTION_MODULES,
                reserved_concurrency=reserved,
            ),
            store=self.store,
            s3=self.s3_client,
            lambda_client=self.lambda_client,
            clock=self.clock,
            sleep=self.loop.sleep,
            pools=TwinPool,
        )
        self.watchdog_on = watchdog
        self.watchdog = Watchdog(self.store, self.lambda_client, FUNCTION, WatchdogSettings())
        self.sweeps = 0
        self.samples: list[Sample] = []
        self.jobs: list[str] = []
        self.parents: set[str] = set()

    def _classify(self, payload: dict[str, Any]) -> str:
        return "parent" if payload.get("job_id") in self.parents else "shard or job"

    def start(
        self, task: str, params: dict[str, Any], *, job_id: str, max_hops: int = 1_000
    ) -> str:
        """Create the job and send its first event (as `baton start` does)."""
        spec = prepare(
            task,
            params,
            action_modules=ACTION_MODULES,
            now_ms=self.clock.now_ms(),
            job_id=job_id,
            max_hops=max_hops,
        )
        use_runtime(self.runtime)
        with quiet():
            launch(self.store, self.lambda_client, FUNCTION, spec)
        self.jobs.append(job_id)
        if task == "s3-fanout":
            self.parents.add(job_id)
        return job_id

    def unfinished(self) -> list[Job]:
        found = [self.store.find(j) for j in self.jobs]
        return [j for j in found if j is not None and j.status not in TERMINAL_STATUSES]

    def run(self, max_hours: float = 24.0) -> None:
        """Run until every started job has ended (or the virtual time limit): the deployed
        watchdog sweeps on its schedule meanwhile, and progress is sampled."""
        use_runtime(self.runtime)
        limit_ms = int(max_hours * 3_600_000)
        if self.watchdog_on:
            self.loop.at(self.loop.now + WATCHDOG_EVERY_S * 1000, self._scheduled_sweep)
        self.loop.at(self.loop.now, self._sample)
        try:
            with quiet():
                try:
                    self.loop.run(max_ms=limit_ms)
                finally:
                    self.loop.abort()
        finally:
            use_runtime(None)

    def _sample(self) -> None:
        self.samples.append(
            Sample(self.loop.elapsed_s, sum(self.ddb.objects.values()), self.lam.running)
        )
        if self.loop.running or self.lam.running or not self._all_ended():
            self.loop.at(self.loop.now + SAMPLE_EVERY_S * 1000, self._sample)

    def _all_ended(self) -> bool:
        with quiet():
            return not self.unfinished()

    def _scheduled_sweep(self) -> None:
        if self._all_ended():
            return

        def sweep(_: Any) -> Any:
            return [a.action for a in self.watchdog.sweep()]

        self.sweeps += 1
        self.loop.spawn(f"watchdog#{self.sweeps}", sweep)
        self.loop.at(self.loop.now + WATCHDOG_EVERY_S * 1000, self._scheduled_sweep)
