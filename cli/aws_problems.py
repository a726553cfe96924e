"""What went wrong between the CLI and AWS, said plainly: which endpoint did not answer and
which variable pointed there, a missing table, missing credentials.

The store reports a write whose answer never came as "of unknown outcome", which is right for
the protocol; the operator also needs the cause underneath it (a table that does not exist
means nothing was written; an endpoint that never answered means it may have been).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

# The CLI's AWS calls: an operator waits at a terminal, so an endpoint that takes connections
# and never answers must fail in seconds, not after botocore's defaults (60 s connect and read,
# 3 or 5 attempts: about 121 s for `status` and 241 s for `start`, measured). DynamoDB and
# Lambda answer these calls in milliseconds; the local stack on a loaded 2-core machine in well
# under a second. Worst case per call: ATTEMPTS x (CONNECT or READ) + backoff, about 13 s.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 6
ATTEMPTS = 2  # the first call and one retry

_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}


@dataclass(frozen=True)
class Endpoint:
    url: str
    variable: str  # what set it: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, or AWS's default


def endpoint_source(url: str, env: Mapping[str, str] | None = None) -> Endpoint:
    """Which variable points at `url` (the most specific that matches), else AWS's default."""
    env = os.environ if env is None else env
    found = [
        (name, value)
        for name, value in env.items()
        if name.startswith("AWS_ENDPOINT_URL") and value and url.startswith(value.rstrip("/"))
    ]
    found.sort(key=lambda item: (-len(item[1]), -len(item[0])))
    if found:
        return Endpoint(url, found[0][0])
    return Endpoint(url, "AWS's own endpoint for the region (no AWS_ENDPOINT_URL* is set)")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything underneath it (__cause__, __context__, pynamodb's .cause)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        cause = getattr(current, "cause", None)
        todo += [
            current.__cause__,
            current.__context__,
            cause if isinstance(cause, BaseException) else None,
        ]


def may_have_landed(exc: BaseException) -> bool:
    """True when a call was sent and its answer never came (a read timeout): a write may have
    been applied. A refused connection, a missing table or missing credentials wrote nothing."""
    return any(isinstance(c, ReadTimeoutError) for c in causes(exc))


def explain(exc: BaseException, table: str | None = None) -> str | None:
    """A plain sentence for an AWS problem anywhere under `exc`, or None if there is none."""
    for cause in causes(exc):
        if isinstance(cause, ConnectTimeoutError | ReadTimeoutError | EndpointConnectionError):
            where = endpoint_source(str(cause.kwargs.get("endpoint_url", "?")))
            verb = (
                "did not connect" if not isinstance(cause, ReadTimeoutError) else "did not answer"
            )
            return (
                f"{where.url} {verb} within {_limit(cause)} s after {ATTEMPTS} attempts "
                f"(the endpoint is set by {where.variable}); check that it runs and is reachable"
            )
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return (
                "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (any values for the local stack)"
            )
        if isinstance(cause, NoRegionError):
            return "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile)"
        if isinstance(cause, ClientError):
            code = cause.response.get("Error", {}).get("Code", "")
            if code in _BAD_CREDENTIALS:
                return f"AWS refused the credentials ({code}): check AWS_PROFILE or the keys"
            if code == "ResourceNotFoundException" and cause.operation_name in _TABLE_CALLS:
                name = f" {table!r}" if table else ""
                return (
                    f"the jobs table{name} does not exist (BATON_TABLE or --table names it); "
                    f"run `baton init`, or point at the right table"
                )
    return None


_TABLE_CALLS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "TransactWriteItems",
    "DescribeTable",
    "DescribeTimeToLive",
}


def _limit(cause: BaseException) -> int:
    return READ_TIMEOUT_S if isinstance(cause, ReadTimeoutError) else CONNECT_TIMEOUT_S
