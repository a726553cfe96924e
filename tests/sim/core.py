"""The scheduler: cooperative threads, a virtual clock, Lambda's delivery model and fault hooks.

Every invocation (and every operator, watchdog sweep or in-flight request) is an `Actor` on a
thread of its own, but exactly one thread runs at a time. An actor gives control back only at a
yield point (`Sim.park`): a DynamoDB, S3 or Lambda call (botocore `before-call` hooks on the
clients, no patching), a named fault point of the relay, or a task step that spends time. There
the scheduler, in the main thread, asks the `Chooser` which actor or timer goes next and which
fault, if any, strikes the call. Nothing else decides, so a run is a pure function of its tape.

The late copy (`ddb_late_copy`, on when `Rates.late_copy` is above zero) strikes there too: the
first attempt of a write stays on the wire, botocore times out on it and sends the request again,
the retry lands and is answered, and the first attempt reaches DynamoDB later, from a ghost actor
of its own, after whatever the schedule ran meanwhile. It strikes every kind of write.

The lost-answer faults (`ddb_lost_answer`, `s3_lost_answer`) strike inside botocore's retry loop,
where the world puts them: a `before-send` hook sends the request to the backend itself (moto's
stubber), so it lands, then drops the connection, times out or answers 500 instead; botocore's
retry handler (the clients' real configuration: standard mode, its attempts and its
classification of retryable errors) sends the same request again. Only the backoff's random
jitter is set to zero, so a schedule does not sleep in wall-clock time.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.parsers import create_parser
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

from baton.handler.faults import SandboxGone
from baton.store.constants import CLOCK_SKEW_MS
from tests.sim.chooser import Chooser
from tests.support import lost_answers
from tests.support.lost_answers import without_jitter

FUNCTION = "baton-worker"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
TICK_MS = 1
LAMBDA_RETRIES = 2
RETRY_DELAY_MS = 60_000
LATE_MS = (60_000, 1_800_000)
SHORT_MS = (0, 800)
IN_FLIGHT_MS = (50, 6_000)
PAYLOAD_LIMIT = 1_048_576
HARNESS_TIMEOUT_S = 120

OK = "ok"
KILL = "kill"

# Faults a DynamoDB write can meet. "lost_response": the write lands, the caller sees a timeout.
# "in_flight": the request is still on the wire when its sender dies or gives up, and lands
# later. "crash_after": the sandbox dies right after the write landed. "lost_answer": the write
# lands and its answer is lost inside botocore's retry loop, which sends it again.
DDB_WRITE_FAULTS = (
    "ddb_throttle",
    "ddb_500",
    "ddb_unreachable",
    "ddb_lost_response",
    "ddb_in_flight",
    "ddb_crash_before",
    "ddb_crash_after",
    "ddb_lost_answer",
)
# The DynamoDB calls that write (a shard's create is a TransactWriteItems).
WRITE_CALLS = ("UpdateItem", "PutItem", "TransactWriteItems")
DDB_READ_FAULTS = ("ddb_throttle", "ddb_500", "ddb_unreachable", "ddb_crash_before")
INVOKE_FAULTS = ("invoke_throttle", "invoke_500", "invoke_unreachable", "invoke_lost_response")
S3_FAULTS = ("s3_500", "s3_slowdown", "s3_lost_answer")
# How a lost answer shows itself to botocore; all three are retried in standard mode.
LOST_ANSWER_KINDS = ("connection_closed", "read_timeout", "http_500")
STEP_FAULTS = ("task_transient", "task_permanent")
DELIVERY_FAULTS = ("duplicate", "late", "dropped")
OTHER_FAULTS = ("slow_step", "timeout_kill", "skew", "retry_same_request_id")
# How long a write's first attempt may stay on the wire while its retry lands and the job goes on.
LATE_COPY_MS = (20, 8_000)
OPERATOR_ACTIONS = ("pause", "resume", "cancel", "watchdog")


class Crash(SandboxGone):
    """The sandbox died (timeout, OOM, a kill): nothing after this point runs in the actor."""


class HarnessStuck(RuntimeError):
    """An actor did not come back to the scheduler: a harness bug, never a protocol verdict."""


@dataclass(frozen=True)
class Rates:
    """Fault probabilities, per yield point or per delivery. All zero: a fault-free run."""

    crash: float = 0.02
    ddb: float = 0.03
    invoke: float = 0.05
    s3: float = 0.04
    task: float = 0.01
    duplicate: float = 0.12
    late: float = 0.06
    drop: float = 0.02
    slow_step: float = 0.02
    skew_ms: int = CLOCK_SKEW_MS
    same_request_id: float = 0.3
    # When a duplicate delivery arrives (unless late): a wider range than the original's lets
    # one land while a live holder's lease has lapsed (a step longer than the lease term).
    duplicate_ms: tuple[int, int] = SHORT_MS
    operator: float = 0.25
    # Which DynamoDB faults may strike writes (reads get the subset that applies to them).
    ddb_kinds: tuple[str, ...] = DDB_WRITE_FAULTS
    task_kinds: tuple[str, ...] = STEP_FAULTS
    # A write's first attempt lands late, after its retry (`ddb_late_copy`). Off by default, so
    # the schedules of the seeds that other tests pin stay as they were.
    late_copy: float = 0.0

    @classmethod
    def none(cls) -> Rates:
        # By keyword: a field added in the middle (duplicate_ms) shifted the positional zeros,
        # which gave `operator` a tuple.
        return cls(
            crash=0,
            ddb=0,
            invoke=0,
            s3=0,
            task=0,
            duplicate=0,
            late=0,
            drop=0,
            slow_step=0,
            skew_ms=0,
            same_request_id=0,
            operator=0,
            ddb_kinds=(),
            task_kinds=(),
            late_copy=0,
        )


_local = threading.local()


@dataclass(eq=False)
class Actor:
    sim: Sim
    seq: int
    kind: str  # invocation | operator | watchdog | ghost
    label: str
    fn: Callable[[Actor], Any]
    deadline: int | None = None
    offset: int = 0
    epoch: int | None = None
    request_id: str = ""
    origin: Actor | None = None
    on_done: Callable[[Actor], None] | None = None
    # learned while running
    owner: str | None = None
    claim_cursor: Any = None
    first_item: Any = None
    lowest_item: Any = None
    items: int = 0
    ddb_calls: int = 0
    result: Any = None
    error: BaseException | None = None
    crashed: str | None = None
    done: bool = False
    point: tuple[str, str] | None = ("start", "")
    directive: str = OK
    after: str | None = None
    # Attempts of the current call whose answer is lost after they landed (before-send hook).
    lost_answers: int = 0
    lost_op: Any = None
    lost_key: str | None = None
    # The current write's first attempt is to stay on the wire and land late (before-send hook).
    late_copy: bool = False
    started_ms: int = 0
    ended_ms: int = 0
    # The job its event names (invocations), and what the ledger learns at its claim.
    job_id: str | None = None
    slow_steps: int = 0
    claimed_ms: int | None = None

    def __post_init__(self) -> None:
        self.sem = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._body, name=self.label, daemon=True)

    def _body(self) -> None:
        _local.actor = self
        self.sem.acquire()
        try:
            if self.directive == KILL:
                raise Crash("killed before it started")
            self.result = self.fn(self)
        except Crash as exc:
            self.crashed = str(exc) or "crash"
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True
            self.point = None
            self.ended_ms = self.sim.now
            self.sim._back.release()

    def alive(self, now: int) -> bool:
        """Running, and not past the deadline at which Lambda kills it."""
        return not self.done and (self.deadline is None or now < self.deadline)

    @property
    def outcome(self) -> str:
        if self.crashed:
            return f"crashed({self.crashed})"
        if self.error is not None:
            return f"raised({type(self.error).__name__}: {str(self.error)[:120]})"
        if isinstance(self.result, dict):
            return str(self.result.get("outcome", "?"))
        return "done"


@dataclass(order=True)
class Timer:
    at: int
    seq: int
    what: str = field(compare=False)
    start: Callable[[], None] = field(compare=False)


class SimContext:
    """A Lambda context on the simulated clock: the remaining time is Lambda's own view."""

    function_name = FUNCTION
    invoked_function_arn = FUNCTION_ARN
    memory_limit_in_mb = 1024
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/baton-worker"
    log_stream_name = "sim"

    def __init__(self, sim: Sim, deadline_ms: int, request_id: str) -> None:
        self.sim = sim
        self.deadline_ms = deadline_ms
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        self.sim.now += TICK_MS
        return max(0, self.deadline_ms - self.sim.now)


class SimClock:
    """baton.store.clock.Clock: true virtual time plus the running actor's clock skew."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def now_ms(self) -> int:
        self.sim.now += TICK_MS
        actor = current_actor()
        return self.sim.now + (actor.offset if actor is not None else 0)


class SimFaults:
    """baton.handler.faults.FaultPoints: every named point is a yield point where a crash may
    strike."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def hit(self, point: str) -> None:
        self.sim.park("fault", point)


def current_actor() -> Actor | None:
    return getattr(_local, "actor", None)


ACTIVE: Sim | None = None


class Sim:
    """One schedule's world: time, actors, timers and the decisions that order them."""

    def __init__(
        self,
        chooser: Chooser,
        rates: Rates,
        *,
        timeout_ms: int,
        handler: Callable[[Any, Any], Any],
        start_ms: int = 1_800_000_000_000,
        payload_limit: int = PAYLOAD_LIMIT,
    ) -> None:
        self.chooser = chooser
        self.rates = rates
        self.timeout_ms = timeout_ms
        self.handler = handler
        self.now = start_ms
        self.start_ms = start_ms
        self.faults_until = start_ms
        self.payload_limit = payload_limit
        self._seq = itertools.count(1)
        self._back = threading.Semaphore(0)
        self.actors: list[Actor] = []
        self.finished: list[Actor] = []
        self.timers: list[Timer] = []
        self.trace: list[str] = []
        self.stats: Counter[str] = Counter()
        self.steps = 0
        self.on_commit: Callable[[Actor | None, str, dict[str, Any]], None] | None = None
        self.on_s3_delete: Callable[[str], None] | None = None
        # A job item put (PutItem, or a transaction's Put) that landed: the actor and the item.
        self.on_create: Callable[[Actor | None, dict[str, Any]], None] | None = None
        self.invokes: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        # The outside world the tasks act on: how often each item was processed.
        self.processed: Counter[Any] = Counter()
        self.step_ms = (20, 250)
        self.slow_step_ms = (400, 4_000)
        # Virtual time a ListObjectsV2 answer costs per key it returns (0: only its latency).
        self.list_ms_per_key = 0
        # True for an action with nothing to do per object (count): each key a walk's listing
        # returns is recorded as that hop's work on it (tests/sim/count_walk.py).
        self.listing_is_work = False

    # ------------------------------------------------------------------ decisions

    def faults_on(self) -> bool:
        return self.now < self.faults_until

    def fault(self, p: float, kind: str) -> bool:
        """A fault decision, counted in the stats when it strikes."""
        if not self.faults_on() or p <= 0:
            return False
        if self.chooser.chance(p):
            self.stats[kind] += 1
            return True
        return False

    def record(self, actor: Actor, item: Any, before: Callable[[Any, Any], bool]) -> None:
        """`actor` did the work of `item` (the side effect the checks read): how often each item
        was processed, the hop's first and lowest item, and its count. `before(a, b)`: whether
        item a comes before item b in the task's order."""
        self.processed[item] += 1
        if actor.first_item is None:
            actor.first_item = item
        if actor.lowest_item is None or before(item, actor.lowest_item):
            actor.lowest_item = item
        actor.items += 1

    def log(self, text: str) -> None:
        self.trace.append(f"{self.now - self.start_ms:>9} {text}")

    # ------------------------------------------------------------------ actors

    def spawn(
        self,
        kind: str,
        label: str,
        fn: Callable[[Actor], Any],
        **fields: Any,
    ) -> Actor:
        actor = Actor(self, next(self._seq), kind, label, fn, **fields)
        actor.started_ms = self.now
        self.actors.append(actor)
        actor.thread.start()
        self.log(f"start {label}")
        self._switch(actor, OK)
        return actor

    def park(self, kind: str, name: str = "") -> str:
        """A yield point: hand control to the scheduler; returns the directive it chose."""
        actor = current_actor()
        if actor is None or actor.sim is not self:
            return OK
        actor.point = (kind, name)
        if self._alone(actor):
            # Nobody else could run now: decide here, exactly as the loop would, without the
            # round trip through the scheduler's thread.
            self.steps += 1
            directive = self._decide(actor)
            actor.point = None
            if directive != OK or kind not in ("spend", "start"):
                self.log(f"{actor.label} @{kind}:{name} -> {directive}")
        else:
            self._back.release()
            actor.sem.acquire()
            directive = actor.directive
        actor.directive = OK
        if directive == KILL:
            raise Crash(f"killed at {kind} {name}".strip())
        return directive

    def _alone(self, actor: Actor) -> bool:
        if self.timers and self.timers[0].at <= self.now:
            return False
        return all(other is actor or other.point is None for other in self.actors)

    def spend(self, ms: int) -> None:
        """The running actor works for `ms` of virtual time, then yields."""
        self.now += max(0, ms)
        self.park("spend")

    def sleep(self, seconds: float) -> None:
        self.spend(int(seconds * 1000))

    def _switch(self, actor: Actor, directive: str) -> None:
        actor.directive = directive
        actor.point = None
        actor.sem.release()
        if not self._back.acquire(timeout=HARNESS_TIMEOUT_S):
            raise HarnessStuck(f"{actor.label} did not yield back within {HARNESS_TIMEOUT_S}s")
        if actor.done:
            self.actors.remove(actor)
            self.finished.append(actor)
            self.log(f"end {actor.label}: {actor.outcome}")
            if actor.on_done is not None:
                actor.on_done(actor)

    def _decide(self, actor: Actor) -> str:
        kind, name = actor.point or ("", "")
        if actor.deadline is not None and self.now >= actor.deadline:
            self.stats["timeout_kill"] += 1
            return KILL
        if actor.kind == "ghost" or kind in ("start", "spend"):
            return OK
        r = self.rates
        if kind == "fault":
            return KILL if self.fault(r.crash, f"crash@{name}") else OK
        if kind == "ddb":
            writes = name in WRITE_CALLS
            if writes and self.fault(r.late_copy, "ddb_late_copy"):
                return "ddb_late_copy"
            faults = [k for k in r.ddb_kinds if writes or k in DDB_READ_FAULTS]
            if faults and self.fault(r.ddb, "ddb"):
                chosen = faults[self.chooser.below(len(faults))]
                self.stats[chosen] += 1
                return KILL if chosen == "ddb_crash_before" else chosen
            return OK
        if kind == "invoke":
            if self.fault(r.invoke, "invoke"):
                chosen = INVOKE_FAULTS[self.chooser.below(len(INVOKE_FAULTS))]
                self.stats[chosen] += 1
                return chosen
            return OK
        if kind == "s3":
            if self.fault(r.s3, "s3"):
                chosen = S3_FAULTS[self.chooser.below(len(S3_FAULTS))]
                self.stats[chosen] += 1
                return chosen
            return OK
        if kind == "step":
            if r.task_kinds and self.fault(r.task, "task"):
                chosen = r.task_kinds[self.chooser.below(len(r.task_kinds))]
                self.stats[chosen] += 1
                return chosen
            return OK
        return OK

    # ------------------------------------------------------------------ timers

    def at(self, when: int, what: str, start: Callable[[], None]) -> None:
        heapq.heappush(self.timers, Timer(max(when, self.now), next(self._seq), what, start))

    # ------------------------------------------------------------------ the loop

    def run(self, on_quiet: Callable[[], bool] | None = None, max_steps: int = 20_000) -> None:
        """Run until nothing is left to do and `on_quiet` adds nothing more."""
        while True:
            self.steps += 1
            if self.steps > max_steps:
                raise AssertionError(f"runaway schedule: more than {max_steps} scheduler steps")
            ready: list[Actor | Timer] = [a for a in self.actors if a.point is not None]
            due = [t for t in self.timers if t.at <= self.now]
            due.sort()
            options = ready + due
            if not options:
                if self.timers:
                    self.now = max(self.now, self.timers[0].at)
                    continue
                if on_quiet is not None and on_quiet():
                    continue
                return
            pick = options[self.chooser.below(len(options))] if len(options) > 1 else options[0]
            if isinstance(pick, Timer):
                self.timers.remove(pick)
                heapq.heapify(self.timers)
                pick.start()
            else:
                kind, name = pick.point or ("", "")
                directive = self._decide(pick)
                if directive != OK or kind not in ("spend", "start"):
                    self.log(f"{pick.label} @{kind}:{name} -> {directive}")
                self._switch(pick, directive)

    def abort(self) -> None:
        """Kill every actor still parked (after a harness error), so no thread is left behind."""
        for actor in list(self.actors):
            if not actor.done:
                self._switch(actor, KILL)

    # ------------------------------------------------------------------ Lambda

    def skew(self) -> int:
        """A clock offset within the configured margin: any two actors differ by at most it."""
        half = self.rates.skew_ms // 2
        if half and self.faults_on() and self.chooser.chance(0.5):
            self.stats["skew"] += 1
            return self.chooser.between(-half, half)
        return 0

    def accept(self, payload: dict[str, Any]) -> None:
        """Lambda accepted an async event: deliver it once, twice, late, or (rarely) never."""
        self.invokes.append(payload)
        r = self.rates
        if self.fault(r.drop, "dropped"):
            self.dead_letters.append(payload)
            self.log(f"event {payload} dropped")
            return
        self.deliver_later(payload, self._delay())
        if self.fault(r.duplicate, "duplicate"):
            self.deliver_later(payload, self._delay(r.duplicate_ms))

    def _delay(self, short: tuple[int, int] = SHORT_MS) -> int:
        if self.fault(self.rates.late, "late"):
            return self.chooser.between(*LATE_MS)
        if not self.faults_on():
            return 0
        return self.chooser.between(*short)

    def deliver_later(
        self, event: Any, delay: int, attempt: int = 0, request_id: str | None = None
    ) -> None:
        self.at(
            self.now + delay,
            f"deliver {event}",
            lambda: self.invoke_now(event, attempt, request_id),
        )

    def invoke_now(self, event: Any, attempt: int = 0, request_id: str | None = None) -> Actor:
        seq = next(self._seq)
        rid = request_id or f"req-{seq}"
        deadline = self.now + self.timeout_ms
        context = SimContext(self, deadline, rid)

        def body(actor: Actor) -> Any:
            # Lambda hands every attempt the event as it was sent: a fresh copy each time.
            return self.handler(copy.deepcopy(event), context)

        def done(actor: Actor) -> None:
            if actor.crashed is None and actor.error is None:
                return
            if attempt >= LAMBDA_RETRIES:
                self.dead_letters.append(event)
                return
            same = self.fault(self.rates.same_request_id, "retry_same_request_id")
            # Lambda retries about 1, then 2 minutes after the failure: a hop that died early
            # is retried long before its deadline, and its lease must have ended by then.
            retry_at = self.now + RETRY_DELAY_MS * (attempt + 1)
            self.deliver_later(event, retry_at - self.now, attempt + 1, rid if same else None)

        epoch = event.get("epoch") if isinstance(event, dict) else None
        job_id = event.get("job_id") if isinstance(event, dict) else None
        return self.spawn(
            "invocation",
            f"inv{seq}[e{epoch} a{attempt}]",
            body,
            deadline=deadline,
            offset=self.skew(),
            epoch=epoch if isinstance(epoch, int) else None,
            request_id=rid,
            on_done=done,
            job_id=job_id if isinstance(job_id, str) else None,
        )


def _error(status: int, code: str, message: str = "injected by the simulator") -> Any:
    response = AWSResponse("https://sim.local", status, {}, None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return response, parsed


def _sim_and_actor() -> tuple[Sim | None, Actor | None]:
    sim = ACTIVE
    actor = current_actor()
    if sim is None or actor is None or actor.sim is not sim:
        return sim, None
    return sim, actor


def _ddb_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    context["sim_api"] = (model.name, params)


def _ddb_before(model: Any, context: dict[str, Any], **_: Any) -> Any:
    sim, actor = _sim_and_actor()
    if sim is None or actor is None:
        return None
    actor.ddb_calls += 1
    directive = sim.park("ddb", model.name)
    if directive == OK:
        return None
    if directive == "ddb_throttle":
        return _error(400, "ProvisionedThroughputExceededException", "Rate exceeded")
    if directive == "ddb_500":
        return _error(500, "InternalServerError")
    if directive == "ddb_unreachable":
        raise EndpointConnectionError(endpoint_url="https://dynamodb.sim.local")
    if directive == "ddb_late_copy":
        actor.late_copy = True
        actor.lost_op = model
        return None
    if directive == "ddb_lost_answer":
        actor.lost_answers = 1 + sim.chooser.below(2)
        actor.lost_op = model
        return None
    if directive in ("ddb_lost_response", "ddb_crash_after"):
        actor.after = directive
        return None
    if directive == "ddb_in_flight":
        op, params = context["sim_api"]
        client = ACTIVE_CLIENTS["dynamodb"]
        origin = actor.origin or actor
        delay = sim.chooser.between(*IN_FLIGHT_MS)

        def land(ghost: Actor) -> Any:
            return client._make_api_call(op, params)

        sim.at(
            sim.now + delay,
            f"{op} of {actor.label} lands",
            lambda: sim.spawn("ghost", f"inflight({actor.label})", land, origin=origin),
        )
        if sim.chooser.chance(0.5):
            raise Crash(f"killed with {op} in flight")
        raise ReadTimeoutError(endpoint_url="https://dynamodb.sim.local")
    return None


def _ddb_after(
    http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
) -> None:
    sim = ACTIVE
    if sim is None:
        return
    actor = current_actor()
    if actor is not None and actor.sim is not sim:
        return
    landed = http_response.status_code == 200 and model.name == "UpdateItem"
    if landed and sim.on_commit is not None:
        sim.on_commit(actor, model.name, parsed.get("Attributes", {}))
    if http_response.status_code == 200 and sim.on_create is not None:
        for item in created_items(model.name, context["sim_api"][1]):
            sim.on_create(actor, item)
    if actor is not None and actor.after:
        after, actor.after = actor.after, None
        if after == "ddb_lost_response":
            raise ReadTimeoutError(endpoint_url="https://dynamodb.sim.local")
        raise Crash("killed right after the write landed")


def _invoke_before(params: dict[str, Any], **_: Any) -> Any:
    sim, actor = _sim_and_actor()
    if sim is None:
        return None
    body = params["body"]
    directive = sim.park("invoke") if actor is not None else OK
    if directive == "invoke_throttle":
        return _error(429, "TooManyRequestsException", "Rate Exceeded.")
    if directive == "invoke_500":
        return _error(500, "ServiceException")
    if directive == "invoke_unreachable":
        raise EndpointConnectionError(endpoint_url="https://lambda.sim.local")
    if len(body) > sim.payload_limit:
        sim.stats["payload_too_large"] += 1
        return _error(
            413,
            "RequestEntityTooLargeException",
            f"Request must be smaller than {sim.payload_limit} bytes for the InvokeAsync operation",
        )
    sim.accept(json.loads(body))
    if directive == "invoke_lost_response":
        raise ReadTimeoutError(endpoint_url="https://lambda.sim.local")
    return AWSResponse("https://lambda.sim.local", 202, {}, None), {
        "StatusCode": 202,
        "ResponseMetadata": {"HTTPStatusCode": 202},
    }


def _s3_before(model: Any, context: dict[str, Any], **_: Any) -> Any:
    sim, actor = _sim_and_actor()
    if sim is None or actor is None:
        return None
    sim.now += 15  # a listing's latency
    directive = sim.park("s3", model.name)
    if directive == "s3_lost_answer":
        actor.lost_answers = 1 + sim.chooser.below(2)
        actor.lost_op = model
        actor.lost_key = context.get("sim_s3_key")
        return None
    if directive == "s3_500":
        return _error(500, "InternalError", "We encountered an internal error.")
    if directive == "s3_slowdown":
        return _error(503, "SlowDown", "Please reduce your request rate.")
    return None


ACTIVE_CLIENTS: dict[str, Any] = {}

_ERROR_BODIES = {
    "json": b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",'
    b'"message":"Internal server error"}',
    "rest-xml": b"<Error><Code>InternalError</Code><Message>We encountered an internal error."
    b"</Message></Error>",
}


def _lose_answer(request: Any, **_: Any) -> Any:
    """before-send: on an armed actor, the request lands (moto handles it here), then its answer
    is lost: botocore sees a dropped connection, a read timeout or a 500, and retries."""
    sim, actor = _sim_and_actor()
    if sim is None or actor is None:
        return None
    if actor.late_copy:
        actor.late_copy = False
        _send_late(sim, actor, request)
        raise ReadTimeoutError(endpoint_url=request.url)
    if actor.lost_answers <= 0:
        return None
    actor.lost_answers -= 1
    op = actor.lost_op
    response = botocore_stubber("before-send", request=request)
    status = getattr(response, "status_code", None)
    if response is not None:
        _landed(sim, actor, op, response, request)
    kind = LOST_ANSWER_KINDS[sim.chooser.below(len(LOST_ANSWER_KINDS))]
    sim.stats[f"lost_answer_{kind}"] += 1
    sim.log(f"{actor.label} {op.name} landed ({status}), its answer lost: {kind}")
    sim.now += 50  # the time the SDK waits before it gives up on this attempt
    if kind == "connection_closed":
        raise ConnectionClosedError(endpoint_url=request.url)
    if kind == "read_timeout":
        raise ReadTimeoutError(endpoint_url=request.url)
    protocol = op.service_model.resolved_protocol
    body = _ERROR_BODIES.get(protocol, _ERROR_BODIES["rest-xml"])
    return AWSResponse(request.url, 500, {}, MockRawResponse(body))


def _send_late(sim: Sim, actor: Actor, request: Any) -> None:
    """Keep a copy of this attempt on the wire: a ghost lands it later, exactly as sent, and
    tells the ledger what it did (botocore meanwhile retries, and the retry lands now)."""
    op = actor.lost_op
    copy_of = AWSPreparedRequest(
        request.method, request.url, request.headers.copy(), request.body, request.stream_output
    )
    origin = actor.origin or actor
    kind = write_kind(op.name, json.loads(request.body or b"{}"))
    sim.stats[f"late_copy:{kind}"] += 1

    def land(ghost: Actor) -> Any:
        response = botocore_stubber("before-send", request=copy_of)
        if response is None:
            return None
        status = response.status_code
        sim.stats[f"late_copy_{'applied' if status < 300 else 'refused'}"] += 1
        if status < 300:
            sim.stats[f"late_copy_applied:{kind}"] += 1
        sim.log(f"late copy of {actor.label}'s {kind} ({op.name}) lands: {status}")
        _landed(sim, ghost, op, response, copy_of)
        return None

    delay = sim.chooser.between(*LATE_COPY_MS)
    sim.at(
        sim.now + delay,
        f"late {op.name} of {actor.label}",
        lambda: sim.spawn("ghost", f"late({actor.label})", land, origin=origin),
    )


def write_kind(op: str, body: dict[str, Any]) -> str:
    """Which write of the protocol a request is, from what it sets (for the fault's stats)."""
    if op != "UpdateItem":
        return "create" if op == "PutItem" else "create_shard"
    sets = lost_answers.sets(body)
    status = sets.get("status")
    if status == "RUNNING":
        return "claim"
    if status == "QUEUED":
        if "timing" in sets:
            return "hand_off"
        if "last_error" in sets:
            return "release"
        if "max_hops" in sets:
            return "resume"
        return "rearm" if "rearms" in sets else "settle"
    if status in ("SUCCEEDED", "FAILED", "PAUSED", "CANCELLED"):
        return status.lower()
    if "counters" in sets:
        return "checkpoint"
    if "pause_requested" in sets or "cancel_requested" in sets:
        return "flag"
    return "nudge" if "rearms" in sets else "other"


def created_items(op: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The items a DynamoDB write that landed put: a PutItem's, or a transaction's Puts."""
    if op == "PutItem":
        return [params.get("Item", {})]
    if op == "TransactWriteItems":
        return [t["Put"]["Item"] for t in params.get("TransactItems", []) if "Put" in t]
    return []


def _landed(sim: Sim, actor: Actor, op: Any, response: Any, request: Any) -> None:
    """Tell the ledger what an attempt whose answer is lost did to the backend."""
    if response.status_code >= 300:
        return
    if op.name == "UpdateItem" and sim.on_commit is not None:
        parser = create_parser(op.service_model.resolved_protocol)
        parsed = parser.parse(
            {
                "status_code": response.status_code,
                "headers": response.headers,
                "body": response.content,
            },
            op.output_shape,
        )
        sim.on_commit(actor, op.name, parsed.get("Attributes", {}))
    if op.name in ("PutItem", "TransactWriteItems") and sim.on_create is not None:
        for item in created_items(op.name, json.loads(request.body or b"{}")):
            sim.on_create(actor, item)
    if op.name == "DeleteObject" and sim.on_s3_delete is not None and actor.lost_key:
        sim.on_s3_delete(actor.lost_key)


def _no_kill_switch(**_: Any) -> Any:
    """GetFunctionConcurrency for the watchdog: no reserved concurrency, no kill switch."""
    return AWSResponse("https://lambda.sim.local", 200, {}, None), {
        "ResponseMetadata": {"HTTPStatusCode": 200}
    }


def _s3_after(
    http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
) -> None:
    sim = ACTIVE
    if sim is not None and model.name == "DeleteObject" and http_response.status_code < 300:
        key = context.get("sim_s3_key")
        if key and sim.on_s3_delete is not None:
            sim.on_s3_delete(key)
    if sim is not None and model.name == "ListObjectsV2" and http_response.status_code < 300:
        _listed(sim, parsed, delimited=context.get("sim_s3_delimiter") is not None)


def _listed(sim: Sim, parsed: dict[str, Any], *, delimited: bool) -> None:
    """A listing answered: it costs time per key returned; for count, each key of a walk's
    listing (no delimiter: a fan-out's planning reads prefixes, not objects) is the hop's work."""
    actor = current_actor()
    if actor is None or actor.sim is not sim:
        return
    keys = [item["Key"] for item in parsed.get("Contents", [])]
    sim.now += sim.list_ms_per_key * len(keys)
    if sim.listing_is_work and not delimited:
        for key in keys:
            sim.record(actor, key, lambda a, b: bool(a.encode() < b.encode()))


def _s3_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["sim_s3_key"] = params.get("Key")
    context["sim_s3_delimiter"] = params.get("Delimiter")


def install_hooks(*, dynamodb: Any, lambda_client: Any, s3: Any) -> None:
    from tests.sim import planted

    ACTIVE_CLIENTS.update(dynamodb=dynamodb, lambda_client=lambda_client, s3=s3)
    ev = dynamodb.meta.events
    ev.register("before-parameter-build.dynamodb", planted.rewrite, unique_id="sim-planted")
    ev.register("before-parameter-build.dynamodb", _ddb_params, unique_id="sim-ddb-params")
    ev.register("before-call.dynamodb", _ddb_before, unique_id="sim-ddb-before")
    ev.register("after-call.dynamodb", _ddb_after, unique_id="sim-ddb-after")
    ev.register_first("before-send.dynamodb", _lose_answer, unique_id="sim-ddb-lose")
    s3.meta.events.register_first("before-send.s3", _lose_answer, unique_id="sim-s3-lose")
    without_jitter(dynamodb)
    without_jitter(s3)
    lambda_client.meta.events.register(
        "before-call.lambda.Invoke", _invoke_before, unique_id="sim-invoke"
    )
    s3.meta.events.register("before-call.s3", _s3_before, unique_id="sim-s3")
    s3.meta.events.register("before-parameter-build.s3", _s3_params, unique_id="sim-s3-params")
    s3.meta.events.register("after-call.s3", _s3_after, unique_id="sim-s3-after")
    lambda_client.meta.events.register(
        "before-call.lambda.GetFunctionConcurrency", _no_kill_switch, unique_id="sim-concurrency"
    )
