"""Hold a copy of chosen requests and land it later, after botocore's retry of it went through.

The world's late duplicate: a request's first attempt is still on the wire when the SDK gives up
on it (a read timeout) and sends it again; the retry lands and is answered; the first attempt
reaches DynamoDB later, maybe after several other writes. A `before-send` hook (registered first)
keeps a copy of the matching request and raises ReadTimeoutError, so botocore's own retry loop
(standard mode) sends the same request again and it lands now; `land()` later hands the copy to
the backend (moto's stubber, in process) exactly as it was sent. Nothing is patched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ReadTimeoutError
from moto.core.models import botocore_stubber

from tests.support.lost_answers import Match, without_jitter


@dataclass
class Held:
    """One request kept back: what it was, and how the backend answered when it landed."""

    op: str
    body: dict[str, Any]
    request: AWSPreparedRequest
    status: int | None = None
    answer: bytes = b""

    @property
    def refused(self) -> bool:
        return self.status == 400 and b"ConditionalCheckFailed" in self.answer


@dataclass
class HoldCopies:
    """Arm with `hold(match)`: the next matching request is kept back (its retry lands now)."""

    rules: list[Match] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)

    def hold(self, match: Match) -> None:
        self.rules.append(match)

    def __call__(self, request: Any, **_: Any) -> Any:
        target = str(request.headers.get("X-Amz-Target", b""), "utf-8", "replace")
        if not target or not self.rules:
            return None
        op = target.rsplit(".", 1)[-1]
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        for i, match in enumerate(self.rules):
            if match(op, body):
                del self.rules[i]
                copy = AWSPreparedRequest(
                    request.method,
                    request.url,
                    request.headers.copy(),
                    request.body,
                    request.stream_output,
                )
                self.held.append(Held(op, body, copy))
                raise ReadTimeoutError(endpoint_url=request.url)
        return None

    def land(self, index: int = -1) -> Held:
        """The held copy reaches the backend now; its answer is recorded on it."""
        held = self.held[index]
        response = botocore_stubber("before-send", request=held.request)
        assert response is not None, "the stubber did not answer the held request"
        held.status = response.status_code
        held.answer = bytes(response.content or b"")
        return held

    @property
    def armed(self) -> bool:
        return bool(self.rules)


def install(client: Any, hook: HoldCopies) -> None:
    """Register the hook on a DynamoDB client and zero its retry jitter."""
    client.meta.events.register_first("before-send.dynamodb", hook, unique_id="hold-copies")
    without_jitter(client)
