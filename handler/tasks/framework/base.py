"""The task interface: `start(params) -> state` and `step(state, ctx) -> done`.

Tasks never touch DynamoDB. Their state must be JSON, and everything a step changes (state and
counters) is committed together by the relay, so a crash never leaves counters ahead of state.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from aws_lambda_powertools import Logger

from baton.handler.parameters import TaskParams, parse_params
from baton.handler.tasks.framework.work_pool import PoolFactory, ThreadWorkPool
from baton.store.errors import PermanentError
from baton.store.records import Counters, Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


class ChildLauncher(Protocol):
    """How an orchestrating task starts and reads its child jobs (baton.handler.children implements
    it).

    A protocol here, so the task interface does not import the machinery that imports the tasks.
    `launch` raises `ParentStopped` once an operator's cancel or pause on the parent was
    accepted (or the parent lost its lease): no shard is created after that.
    """

    def launch(
        self,
        parent_id: str,
        job_id: str,
        params: dict[str, Any],
        *,
        task: str = ...,
        max_hops: int,
        max_attempts: int,
    ) -> Job: ...

    def read(self, job_ids: Iterable[str]) -> dict[str, Job]: ...

    # The most children that can run at once (the worker's reserved concurrency, less one).
    max_running: int | None

    def pass_on(self, job_ids: Iterable[str], status: JobStatus) -> dict[str, str]:
        """Pass the parent's cancel or pause on to its children."""
        ...

    def resume_cascaded(self, job_ids: Iterable[str]) -> dict[str, Job]:
        """Resume children the parent's own cascade paused, while the parent runs unasked."""
        ...


class JobFailure(PermanentError):
    """A failure no retry can fix (bad parameters, too many failed objects): fail the job now."""


@dataclass
class Resources:
    """What a task may use: clients made once per process by the runtime, and the allow-lists."""

    s3: S3Client
    action_modules: tuple[str, ...]
    logger: Logger
    # Orchestrating tasks (fan-out) start and read other jobs; plain tasks never touch the store.
    children: ChildLauncher | None = None
    sleep: Callable[[float], None] = time.sleep
    # Where a task runs work in parallel within a hop (the simulator brings a deterministic one).
    pools: PoolFactory = ThreadWorkPool
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
        item_ms: Callable[[], float] | None = None,
    ) -> None:
        self.job_id = job_id
        self.counters = counters
        self.remaining_ms = remaining_ms
        self.work_window_ms = work_window_ms
        self.logger = logger
        self._item_ms = item_ms
        self.commit_requested = False
        # What the task asked to wait for (see wait_for), None when it did not.
        self.wait_requested: str | None = None
        # Milliseconds of the current step spent on batches sized to the window (see sized_wait).
        self.sized_ms = 0

    def commit_now(self) -> None:
        """Ask the relay to commit state and counters right after this step, whatever the
        checkpoint interval: for a decision that must be durable before it acts (a fan-out's
        plan before any shard starts). The commit also brings the operator's requests in."""
        self.commit_requested = True

    def wait_for(self, what: str) -> None:
        """Ask the relay to end the hop after this step and park the job: committed, unheld and
        QUEUED at the next epoch with no event sent, so the wait holds no Lambda slot. Only for
        a task whose wait ends with someone sending the job's event (a fan-out's shards do as
        they end) and whose `woken` says whether it already ended; the watchdog re-sends a
        parked job's event as a backstop."""
        self.wait_requested = what

    def sized_wait(self, ms: float) -> None:
        """Tell the budget that `ms` of this step went to a batch the task sized to the work
        window (`work_window_ms() / item_ms()` items, e.g. a listing page): the hand-off margin
        need not reserve a whole batch, only steps of fixed cost. Report only what was sized
        so: a step of unbounded cost must stay in the margin."""
        self.sized_ms += max(0, int(ms))

    def item_ms(self) -> float:
        """Milliseconds per progress item, listing and every other step cost included, or 0.0
        before anything was measured.

        The hop's own average once it has done an item, else the one the previous hop measured
        (carried across hops in the item's `timing` map). Size a batch (a listing page) to the
        time left with `ctx.work_window_ms() / ctx.item_ms()` items, floored at 1 and with a
        floor on item_ms for near-free items; `work_window_ms()` already leaves the hand-off
        margin out. See baton.handler.budget.TimeBudget.item_ms.
        """
        return self._item_ms() if self._item_ms is not None else 0.0

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
    # The task's parameters, declared once (baton.handler.parameters): `validate`, the
    # stored params and `baton start TASK`'s flags and help all come from it.
    Params: ClassVar[type[TaskParams] | None] = None

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        self.params = params
        self.resources = resources

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        """Check and normalise parameters at job creation; raise InvalidJob with a clear message.

        By default through the task's `Params` model; a task without one overrides this."""
        if cls.Params is None:
            raise NotImplementedError(f"task {cls.name!r} declares no Params model and no validate")
        return parse_params(cls.Params, params, cls.name, action_modules).stored()

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

    def woken(self, state: Any) -> bool:
        """After the hop parked the job (see StepContext.wait_for): whether what it waits for
        has already happened, in which case the relay sends the job's event itself. Read after
        the park write, so an event that raced the park is never lost."""
        return False

    def close(self) -> None:
        """The hop is over (handed off, finished, failed or killed): release threads at once.

        Called by the relay whatever ended the hop; work still running is abandoned."""
        return None

    def stopping(self, state: Any, status: JobStatus) -> None:
        """Called before the job is paused or cancelled on an operator's request, with the
        state as the holder has it (committed or not): a task that started other jobs passes
        the request on to them, so none is left running. Plain tasks do nothing."""
        return None

    def summary(self, state: Any) -> dict[str, Any]:
        """A short result (a few KB) kept on the job item when the job ends."""
        return {}

    def report(self, state: Any) -> Iterable[dict[str, Any]]:
        """The full result, one JSON object per line of the job's report."""
        return ()
