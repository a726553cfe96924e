"""The task interface: `start(params) -> state` and `step(state, ctx) -> done`.

Tasks never touch DynamoDB. Their state must be JSON, and everything a step changes (state and
counters) is committed together by the relay, so a crash never leaves counters ahead of state.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from aws_lambda_powertools import Logger

from store.records import Counters

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from handler.children import ChildJobs


class JobFailure(Exception):
    """A failure no retry can fix (bad parameters, too many failed objects): fail the job now."""


@dataclass
class Resources:
    """What a task may use: clients made once per process by the runtime, and the allow-lists."""

    s3: S3Client
    action_modules: tuple[str, ...]
    logger: Logger
    # Orchestrating tasks (fan-out) start and read other jobs; plain tasks never touch the store.
    children: ChildJobs | None = None
    sleep: Callable[[float], None] = time.sleep
    # For tasks that read or write the user's DynamoDB tables (not the jobs table).
    dynamodb: DynamoDBClient | None = None
    task_modules: tuple[str, ...] = ()


class StepContext:
    """Counters, time and logging for one hop of a task."""

    def __init__(
        self,
        counters: Counters,
        remaining_ms: Callable[[], int],
        work_window_ms: Callable[[], int],
        logger: Logger,
        job_id: str = "",
    ) -> None:
        self.job_id = job_id
        self.counters = counters
        self.remaining_ms = remaining_ms
        self.work_window_ms = work_window_ms
        self.logger = logger

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + int(n)


class Task(ABC):
    """One kind of job. A new instance serves each hop; its attributes are transient caches."""

    name: ClassVar[str]
    # The counter whose growth is a hop's "items done" in the timeline.
    progress_counter: ClassVar[str | None] = None
    # True for tasks that run child jobs (`Shards`): operators' cancel/pause/resume and
    # `baton status` follow the shard ids kept in the state's "shards" list.
    has_shards: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        self.params = params
        self.resources = resources

    @classmethod
    @abstractmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        """Check and normalise parameters at job creation; raise InvalidJob with a clear message."""

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        """How many `progress_counter` items the job will count, when known (for ETAs)."""
        return None

    @abstractmethod
    def start(self) -> Any:
        """The initial state (JSON), built on the first hop."""

    @abstractmethod
    def step(self, state: Any, ctx: StepContext) -> bool:
        """Do one small unit of work, updating state and counters; True when the job is done."""

    def summary(self, state: Any) -> dict[str, Any]:
        """A short result (a few KB) kept on the job item when the job ends."""
        return {}

    def report(self, state: Any) -> Iterable[dict[str, Any]]:
        """The full result, one JSON object per line of the job's report."""
        return ()
