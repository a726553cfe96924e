"""Lose the answer of chosen requests after they land, inside botocore's retry loop.

A `before-send` hook (registered first on a client) hands the request to the backend itself
(moto's stubber, in process), so it lands; then it raises ConnectionClosedError, as a reset
connection would. botocore's retry handler (standard mode, as pynamodb and the relay configure
it) sends the same request again. Nothing is patched; only the backoff's random jitter is zeroed
so a test does not sleep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

Match = Callable[[str, dict[str, Any]], bool]


def sets(body: dict[str, Any]) -> dict[str, Any]:
    """The attributes an UpdateItem body sets (SET and ADD), by name, with plain values."""
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    out: dict[str, Any] = {}
    for name, value in re.findall(r"(#\w+)\s*(?:=|\s)\s*(:\w+)", body.get("UpdateExpression", "")):
        raw = values.get(value, {})
        out[names.get(name, name)] = next(iter(raw.values()), None) if raw else None
    return out


@dataclass
class LoseAnswers:
    """Arm with `lose(match, times)`: the next matching request(s) land and lose their answer."""

    rules: list[tuple[Match, int]] = field(default_factory=list)
    landed: list[tuple[str, int]] = field(default_factory=list)
    # The retry of a lost request is the same body: let it through (one lost answer per call).
    last_lost: bytes | None = None
    # Runs after a request landed and before its answer is lost: someone else at the worst moment.
    meanwhile: Callable[[], None] | None = None

    def lose(self, match: Match, times: int = 1) -> None:
        self.rules.append((match, times))

    def __call__(self, request: Any, **_: Any) -> Any:
        target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")
        op = target.rsplit(".", 1)[-1] if target else f"{request.method} {request.url}"
        try:
            body = json.loads(request.body or b"{}") if target else {}
        except ValueError:
            body = {}
        if request.body is not None and request.body == self.last_lost:
            return None
        for i, (match, times) in enumerate(self.rules):
            if times > 0 and match(op, body):
                self.last_lost = request.body
                self.rules[i] = (match, times - 1)
                response = botocore_stubber("before-send", request=request)
                self.landed.append((op, response.status_code if response is not None else 0))
                if self.meanwhile is not None:
                    meanwhile, self.meanwhile = self.meanwhile, None
                    meanwhile()
                raise ConnectionClosedError(endpoint_url=request.url)
        return None

    @property
    def armed(self) -> bool:
        return any(times > 0 for _, times in self.rules)


def install(client: Any, hook: LoseAnswers) -> None:
    """Register the hook on a client (DynamoDB or S3) and zero its retry jitter."""
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-send.{service}", hook, unique_id=f"lose-{service}")
    without_jitter(client)


def without_jitter(client: Any) -> None:
    """Keep botocore's retry handler as configured, but let its backoff wait zero seconds."""
    service = client.meta.service_model.service_id.hyphenize()
    entry = client.meta.events._emitter._unique_id_handlers.get(f"retry-config-{service}")
    handler = getattr(entry and entry["handler"], "__self__", None)
    backoff = getattr(getattr(handler, "_retry_policy", None), "_retry_backoff", None)
    if backoff is None:
        raise RuntimeError(f"the {service} client is not in botocore's standard retry mode")
    backoff._random = lambda: 0.0


# The store's writes, told apart by what they set.
def update(op: str) -> bool:
    return op == "UpdateItem"


def claim_write(op: str, body: dict[str, Any]) -> bool:
    return update(op) and sets(body).get("status") == "RUNNING"


def checkpoint_write(op: str, body: dict[str, Any]) -> bool:
    s = sets(body)
    return update(op) and "counters" in s and "status" not in s


def hand_off_write(op: str, body: dict[str, Any]) -> bool:
    s = sets(body)
    return update(op) and s.get("status") == "QUEUED" and "timing" in s


def status_write(status: str) -> Match:
    return lambda op, body: update(op) and sets(body).get("status") == status


def release_write(op: str, body: dict[str, Any]) -> bool:
    s = sets(body)
    return update(op) and s.get("status") == "QUEUED" and "last_error" in s


def resume_write(op: str, body: dict[str, Any]) -> bool:
    s = sets(body)
    return update(op) and s.get("status") == "QUEUED" and "max_hops" in s


def rearm_write(op: str, body: dict[str, Any]) -> bool:
    # `rearms` is the item attribute of Job.restarts (its wire name, kept from before the rename)
    s = sets(body)
    return update(op) and s.get("status") == "QUEUED" and "rearms" in s and "epoch" in s


def nudge_write(op: str, body: dict[str, Any]) -> bool:
    s = sets(body)
    return update(op) and "rearms" in s and "status" not in s


def flag_write(name: str) -> Match:
    return lambda op, body: update(op) and name in sets(body)


def put_write(op: str, body: dict[str, Any]) -> bool:
    return op == "PutItem"


@dataclass
class FailRequests:
    """before-send: matching requests never reach the backend; each attempt gets an error answer
    (a DynamoDB throttle, an S3 500) until `times` attempts have failed."""

    rules: list[tuple[Match, int]] = field(default_factory=list)
    failed: int = 0

    def fail(self, match: Match, times: int) -> None:
        self.rules.append((match, times))

    def __call__(self, request: Any, **_: Any) -> Any:
        target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")
        op = target.rsplit(".", 1)[-1] if target else f"{request.method} {request.url}"
        try:
            body = json.loads(request.body or b"{}") if target else {}
        except ValueError:
            body = {}
        for i, (match, times) in enumerate(self.rules):
            if times > 0 and match(op, body):
                self.rules[i] = (match, times - 1)
                self.failed += 1
                if target:
                    answer = (
                        b'{"__type":"com.amazonaws.dynamodb.v20120810#'
                        b'ProvisionedThroughputExceededException","message":"Rate exceeded"}'
                    )
                    return AWSResponse(request.url, 400, {}, MockRawResponse(answer))
                answer = b"<Error><Code>InternalError</Code><Message>oops</Message></Error>"
                return AWSResponse(request.url, 500, {}, MockRawResponse(answer))
        return None


def s3_get(op: str, body: dict[str, Any]) -> bool:
    return op.startswith("GET ") and "/state/" in op
