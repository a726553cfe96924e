"""Self re-invocation: send the next epoch's event asynchronously, retrying while time remains."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from baton.handler.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# Errors worth another try: throttles and the service's own failures.
RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ServiceException",
        "ServiceUnavailableException",
        "EC2ThrottledException",
        "ResourceConflictException",
        "ThrottlingException",
    }
)
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
# Stop retrying when less than this is left: the hop must not be killed mid hand-off. Each try
# is one HTTP request with short timeouts (runtime.INVOKE_CONFIG, no botocore retries), so a
# retry loop never sleeps unseen past the deadline.
RESERVE_MS = 1_000


class SelfInvoker:
    def __init__(self, client: LambdaClient, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.sleep = sleep

    def send(self, function: str, payload: dict[str, Any], remaining_ms: Callable[[], int]) -> bool:
        """True once Lambda accepted the event; False when it never did (the job waits QUEUED)."""
        body = json.dumps(payload).encode()
        backoff = FIRST_BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            try:
                self.client.invoke(FunctionName=function, InvocationType="Event", Payload=body)
                return True
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                retryable = code in RETRYABLE_CODES or status >= 500
                error = f"{code or 'ClientError'}: {exc}"
            except BotoCoreError as exc:
                retryable, error = True, f"{type(exc).__name__}: {exc}"
            wait = backoff * (0.5 + random.random() / 2)
            if not retryable or remaining_ms() - wait * 1000 < RESERVE_MS:
                logger.error(
                    "hand-off invoke failed",
                    extra={"attempts": attempt, "error": error, "retryable": retryable},
                )
                return False
            logger.warning("hand-off invoke refused, retrying", extra={"error": error})
            self.sleep(wait)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
