"""Lambda's async delivery, in process: a queue, contexts with deadlines, retries and faults.

Invokes made by the relay are captured with a botocore `before-call` hook (no patching) and
queued; `drain()` delivers them to the real `baton.handler.app.lambda_handler`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from baton.handler.app import lambda_handler
from baton.handler.faults import SandboxGone
from tests.support.virtual_clock import VirtualClock

RETRY_DELAY_MS = 60_000
FUNCTION = "baton-worker"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"


class Killed(SandboxGone):
    """The sandbox died (timeout, OOM, crash): nothing after it runs, no lease is released."""


@dataclass
class FakeContext:
    clock: VirtualClock
    deadline_ms: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = FUNCTION
    invoked_function_arn: str = FUNCTION_ARN
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/baton-worker"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - self.clock.now_ms())


@dataclass
class Delivery:
    event: Any
    attempt: int = 0
    not_before_ms: int = 0
    # Lambda retries a failed async invocation under the same request id; a duplicate delivery
    # or a fresh invoke gets its own.
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class KillAt:
    """Kill the invocation at a named fault point, on the hits `when` selects (1-based)."""

    def __init__(self, point: str, when: Callable[[int], bool]) -> None:
        self.point = point
        self.when = when
        self.hits = 0
        self.kills = 0

    def hit(self, point: str) -> None:
        if point != self.point:
            return
        self.hits += 1
        if self.when(self.hits):
            self.kills += 1
            raise Killed(point)


class LambdaSim:
    def __init__(self, clock: VirtualClock, timeout_ms: int, max_retries: int = 2) -> None:
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.max_retries = max_retries
        self.queue: deque[Delivery] = deque()
        self.held: list[Delivery] = []
        self.invokes: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.dead_letters: list[Delivery] = []
        self.lost: list[dict[str, Any]] = []
        # Decides, per accepted invoke, whether the event is lost on the way (as when a
        # function's reserved concurrency is 0 and events go to the on-failure destination).
        self.lose: Callable[[dict[str, Any]], bool] = lambda event: False
        # Kill a hop whose clock passes its deadline, as Lambda does: a step that never returns
        # is stopped the first time it reads the clock or sleeps past it.
        self.kill_at_deadline = False

    # botocore hook: short-circuits lambda.Invoke and queues the event instead.
    def on_invoke(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        event = json.loads(params["body"])
        self.invokes.append(event)
        if self.lose(event):
            self.lost.append(event)
        else:
            self.queue.append(Delivery(event))
        response = AWSResponse("https://lambda.local", 202, {}, None)
        return response, {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}

    def attach(self, lambda_client: Any) -> None:
        lambda_client.meta.events.register("before-call.lambda.Invoke", self.on_invoke)

    def send(self, event: Any) -> None:
        self.queue.append(Delivery(event))

    def deliver(self, delivery: Delivery) -> None:
        self.clock.advance_to(delivery.not_before_ms)
        context = FakeContext(
            self.clock, self.clock.now_ms() + self.timeout_ms, aws_request_id=delivery.request_id
        )
        if self.kill_at_deadline:
            self.clock.alarm_at_ms, self.clock.alarm = context.deadline_ms, self._timed_out
        try:
            self.results.append(lambda_handler(delivery.event, context))
        except (Killed, Exception) as exc:
            self.errors.append(exc)
            # As on AWS, the retry comes about a minute after the failure (a hop that died early
            # is retried long before its deadline).
            retry = Delivery(
                delivery.event,
                delivery.attempt + 1,
                self.clock.now_ms() + RETRY_DELAY_MS,
                request_id=delivery.request_id,
            )
            if delivery.attempt < self.max_retries:
                self.queue.append(retry)
            else:
                self.dead_letters.append(delivery)
        finally:
            self.clock.alarm_at_ms = self.clock.alarm = None

    @staticmethod
    def _timed_out() -> None:
        raise Killed("Task timed out: the deadline passed")

    def drain(
        self,
        *,
        duplicate: bool = False,
        late_rate: float = 0.0,
        seed: int = 0,
        limit: int = 20_000,
    ) -> int:
        """Deliver until the queue is empty; returns the number of deliveries."""
        rng = random.Random(seed)
        delivered = 0
        while self.queue or self.held:
            if not self.queue:
                self.queue.extend(self.held)
                self.held.clear()
            delivery = self.queue.popleft()
            if late_rate and delivery.attempt == 0 and rng.random() < late_rate:
                self.held.append(Delivery(delivery.event, attempt=-1))
            copies = 2 if duplicate else 1
            for _ in range(copies):
                self.deliver(delivery)
                delivered += 1
            if delivered > limit:
                raise AssertionError(f"more than {limit} deliveries: runaway chain")
        return delivered
