"""What the fakes share: botocore error replies, and retry backoff spent in virtual time."""

from __future__ import annotations

from typing import Any, cast

from botocore.awsrequest import AWSResponse

from benchmarks.twin.scheduler import Loop


def error_reply(status: int, code: str, message: str, url: str = "https://twin.local") -> Any:
    """A before-call answer botocore treats as the service's error (its retry loop sees it)."""
    response = AWSResponse(url, status, cast(Any, {}), None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return response, parsed


def ok_reply(parsed: dict[str, Any], status: int = 200, url: str = "https://twin.local") -> Any:
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "HTTPHeaders": {}})
    return AWSResponse(url, status, cast(Any, {}), None), parsed


def virtual_backoff(client: Any, loop: Loop) -> None:
    """Keep botocore's retry policy (standard mode, its attempts and classification) but spend
    its backoff in virtual time: the jitter is its mean (one half), the wait `loop.wait`."""
    service = client.meta.service_model.service_id.hyphenize()
    entry = client.meta.events._emitter._unique_id_handlers.get(f"retry-config-{service}")
    handler = getattr(entry and entry["handler"], "__self__", None)
    backoff = getattr(getattr(handler, "_retry_policy", None), "_retry_backoff", None)
    if backoff is None:
        raise RuntimeError(f"the {service} client is not in botocore's standard retry mode")
    backoff._random = lambda: 0.5
    real = backoff.delay_amount

    def delay(context: Any) -> float:
        loop.wait(real(context) * 1000)
        return 0.0

    backoff.delay_amount = delay
