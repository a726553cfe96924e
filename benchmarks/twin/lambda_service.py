"""Lambda for the twin: the async event queue, reserved concurrency, throttling, retries, cold
starts and the timeout's kill, in virtual time.

An async Invoke is accepted (202) into the function's queue. The queue starts an invocation
when a concurrency slot is free; otherwise the event is throttled and tried again after 1 s,
doubling up to 5 minutes, for at most 6 hours, then dropped to the failure destination. An
invocation on a sandbox that has never run pays a cold start first (INIT, outside the timeout,
billed); it is killed at its timeout wherever it is. A function error or a kill is retried one
and then two minutes later, then the event goes to the failure destination. Duration is billed
per millisecond at the function's memory: the GB-seconds the report prices.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.twin.botocore_hooks import error_reply, ok_reply
from benchmarks.twin.figures import figure
from benchmarks.twin.scheduler import Actor, Loop, current

ASYNC_PAYLOAD_LIMIT = 1_048_576
FUNCTION = "baton-worker"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"


class TwinContext:
    """A Lambda context whose remaining time is read from the virtual clock."""

    function_name = FUNCTION
    invoked_function_arn = FUNCTION_ARN
    function_version = "$LATEST"
    log_group_name = f"/aws/lambda/{FUNCTION}"
    log_stream_name = "twin"

    def __init__(self, loop: Loop, deadline_ms: int, request_id: str, memory_mb: int) -> None:
        self.loop = loop
        self.deadline_ms = deadline_ms
        self.aws_request_id = request_id
        self.memory_limit_in_mb = memory_mb

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - self.loop.now)


@dataclass
class QueuedEvent:
    payload: dict[str, Any]
    accepted_ms: int
    attempt: int = 0
    throttles: int = 0


@dataclass
class LambdaTwin:
    loop: Loop
    handler: Callable[[Any, Any], Any]
    timeout_s: int = 900
    memory_mb: int = 1024
    reserved: int | None = None
    running: int = 0
    idle: int = 0
    stats: Counter[str] = field(default_factory=Counter)
    gb_seconds: float = 0.0
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    # (virtual ms, running invocations) at every change, for the plot
    running_series: list[tuple[int, int]] = field(default_factory=list)
    # Billed duration by what the invocation ran (the first event field that names it).
    gb_seconds_by: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    classify: Callable[[dict[str, Any]], str] = lambda payload: "hop"
    last_end_ms: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call.lambda.Invoke", self._invoke, unique_id="twin-invoke")
        events.register(
            "before-call.lambda.GetFunctionConcurrency", self._concurrency, unique_id="twin-gfc"
        )

    def _concurrency(self, **_: Any) -> Any:
        reply: dict[str, Any] = {}
        if self.reserved is not None:
            reply["ReservedConcurrentExecutions"] = self.reserved
        return ok_reply(reply)

    def _invoke(self, params: dict[str, Any], **_: Any) -> Any:
        body = params["body"]
        headers = params.get("headers", {})
        kind = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if current() is not None:
            self.loop.wait(figure("lambda_async_accept_ms"))
        if kind != "Event":
            return error_reply(
                400, "InvalidParameterValueException", "the twin runs async invokes only"
            )
        if len(body) > ASYNC_PAYLOAD_LIMIT:
            return error_reply(413, "RequestEntityTooLargeException", "payload over 1 MB")
        self.stats["accepted"] += 1
        self.enqueue(json.loads(body))
        return ok_reply({"StatusCode": 202}, status=202)

    # ------------------------------------------------------------------ the queue

    def enqueue(self, payload: dict[str, Any], delay_ms: int = 0) -> None:
        event = QueuedEvent(payload, self.loop.now)
        self.loop.at(self.loop.now + delay_ms, lambda: self._try_start(event))

    def _try_start(self, event: QueuedEvent) -> None:
        if self.reserved is not None and self.running >= self.reserved:
            self.stats["throttled"] += 1
            event.throttles += 1
            backoff_s = min(
                figure("lambda_throttle_backoff_max_s"),
                figure("lambda_throttle_backoff_first_s") * 2 ** (event.throttles - 1),
            )
            if (
                self.loop.now + backoff_s * 1000 - event.accepted_ms
                > figure("lambda_event_max_age_s") * 1000
            ):
                self.stats["expired"] += 1
                self.dead_letters.append(event.payload)
                return
            self.loop.at(self.loop.now + int(backoff_s * 1000), lambda: self._try_start(event))
            return
        self._start(event)

    def _start(self, event: QueuedEvent) -> None:
        self.running += 1
        self.running_series.append((self.loop.now, self.running))
        cold = self.idle == 0
        if cold:
            self.stats["cold_starts"] += 1
        else:
            self.idle -= 1
        init_ms = int(figure("lambda_cold_start_ms")) if cold else 0
        started = self.loop.now
        deadline = started + init_ms + self.timeout_s * 1000
        request_id = f"twin-{next(self._ids):08d}"
        context = TwinContext(self.loop, deadline, request_id, self.memory_mb)
        self.stats["invocations"] += 1

        def body(actor: Actor) -> Any:
            if init_ms:
                self.loop.wait(init_ms)
            return self.handler(json.loads(json.dumps(event.payload)), context)

        def done(actor: Actor) -> None:
            self.last_end_ms = self.loop.now
            self.running -= 1
            self.running_series.append((self.loop.now, self.running))
            gb_s = (actor.ended_ms - started) / 1000 * self.memory_mb / 1024
            self.gb_seconds += gb_s
            self.gb_seconds_by[self.classify(event.payload)] += gb_s
            if actor.kill_now:
                return  # the run ended (Loop.abort): not Lambda's doing
            if actor.killed:
                self.stats["timeouts"] += 1
            else:
                self.idle += 1  # a killed sandbox is not reused
            if actor.error is not None:
                self.stats["errors"] += 1
            if not actor.killed and actor.error is None:
                return
            if event.attempt >= 2:
                self.stats["failed_events"] += 1
                self.dead_letters.append(event.payload)
                return
            event.attempt += 1
            self.stats["retries"] += 1
            wait_s = (
                figure("lambda_retry_1_s") if event.attempt == 1 else figure("lambda_retry_2_s")
            )
            self.loop.at(self.loop.now + int(wait_s * 1000), lambda: self._try_start(event))

        self.loop.spawn(f"{request_id} {event.payload}", body, deadline=deadline, on_done=done)

    def cost_usd(self) -> float:
        return self.gb_seconds * figure("lambda_price_gb_s") + self.stats["invocations"] * figure(
            "lambda_price_request"
        )
