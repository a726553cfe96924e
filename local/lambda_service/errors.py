"""Lambda's REST-JSON error responses, shaped as botocore parses them.

botocore takes the error code from the `x-amzn-ErrorType` header and the message from the body's
`message` (or `Message`) member, so a boto3 client raises a `ClientError` (or the modelled
exception class, e.g. `client.exceptions.TooManyRequestsException`) exactly as against AWS.
"""

from __future__ import annotations

import json
from typing import Any

# Shapes whose message member is spelled `Message` in the service model; the rest use `message`.
_CAPITALISED = {"ResourceNotFoundException", "ServiceException"}


class LambdaApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fault: str = "User",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fault = fault
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> bytes:
        key = "Message" if self.code in _CAPITALISED else "message"
        return json.dumps({"Type": self.fault, key: self.message, **self.extra}).encode()

    def response_headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code, **self.headers}


def function_not_found(arn: str) -> LambdaApiError:
    return LambdaApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def not_found(message: str) -> LambdaApiError:
    return LambdaApiError(404, "ResourceNotFoundException", message)


def throttled(reason: str, message: str = "Rate Exceeded.") -> LambdaApiError:
    return LambdaApiError(
        429,
        "TooManyRequestsException",
        message,
        extra={"Reason": reason},
        headers={"Retry-After": "1"},
    )


def invalid_parameter(message: str) -> LambdaApiError:
    return LambdaApiError(400, "InvalidParameterValueException", message)


def invalid_content(message: str) -> LambdaApiError:
    return LambdaApiError(400, "InvalidRequestContentException", message)


def too_large(size: int, limit: int) -> LambdaApiError:
    return LambdaApiError(
        413,
        "RequestTooLargeException",
        f"{size} byte payload is too large for this invocation type (limit {limit} bytes)",
    )


def unknown_operation(method: str, path: str) -> LambdaApiError:
    return LambdaApiError(
        404, "UnknownOperationException", f"the local Lambda service has no {method} {path}"
    )


def service_error(message: str) -> LambdaApiError:
    return LambdaApiError(500, "ServiceException", message, fault="Service")
