"""The local function's configuration: what `CreateFunction` and `PutFunctionEventInvokeConfig`
would hold on AWS, plus how much to scale Lambda's retry delays down for local use.

The Lambda API changes it through `config_api.FunctionConfigApi`."""

from __future__ import annotations

import re
from dataclasses import dataclass

ACCOUNT = "123456789012"
REGION = "us-east-1"
# Lambda retries a failed async event about 1 minute, then about 2 minutes, after the failure
# ("a one-minute wait between the first two attempts, and two minutes between the second and
# third"; function errors include runtime errors and timeouts: AWS Lambda developer guide, "How
# Lambda handles errors and retries with asynchronous invocation").
AWS_RETRY_DELAYS_S = (60.0, 120.0)
# Locally those delays are divided by this factor, and so is the store's clock-skew margin
# (`scaled_ms`). The lease term is the longest the first retry still finds expired (`lease_ms`):
# a hop that died early leaves a lease that ends before that retry comes, as on AWS (30 s + 2 s
# against 60 s). It is not scaled down further: DynamoDB writes are not faster here, and a
# lease only a few writes long would keep a hop committing instead of working.
DEFAULT_RETRY_SCALE = 30.0
# The shortest lease the workers accept (BATON_LEASE_MS): a large scale stops here.
MIN_LEASE_MS = 100
# Payload limits of Invoke (bytes).
ASYNC_PAYLOAD_LIMIT = 1_048_576
SYNC_PAYLOAD_LIMIT = 6_291_456

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class FunctionConfig:
    name: str = "baton-worker"
    timeout_ms: int = 3_000
    memory_mb: int = 1_024
    max_retry_attempts: int = 2
    max_event_age_s: int = 21_600
    retry_scale: float = DEFAULT_RETRY_SCALE
    # The account's concurrency on this machine: the most workers running at once when the
    # function has no reserved concurrency.
    account_concurrency: int = 4
    reserved_concurrency: int | None = None
    handler: str = "baton.handler.app.lambda_handler"
    region: str = REGION
    account: str = ACCOUNT

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"function name must match {_NAME.pattern}, got {self.name!r}")
        if not 100 <= self.timeout_ms <= 900_000:
            raise ValueError(f"timeout must be 0.1 to 900 seconds, got {self.timeout_ms} ms")
        if not 0 <= self.max_retry_attempts <= 2:
            raise ValueError(
                f"MaximumRetryAttempts is 0 to 2, as on Lambda; got {self.max_retry_attempts}"
            )
        if self.retry_scale <= 0:
            raise ValueError("retry_scale must be positive")
        if self.account_concurrency < 1:
            raise ValueError("account_concurrency must be at least 1")
        if self.reserved_concurrency is not None and not (
            0 <= self.reserved_concurrency <= self.account_concurrency
        ):
            raise ValueError(
                f"reserved concurrency must be 0 to {self.account_concurrency}, "
                f"got {self.reserved_concurrency}"
            )

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def concurrency_cap(self) -> int:
        """How many invocations may run at once."""
        if self.reserved_concurrency is None:
            return self.account_concurrency
        return self.reserved_concurrency

    def retry_delay_ms(self, retry: int) -> int:
        """The scaled delay before retry number `retry` (1 or 2)."""
        aws = AWS_RETRY_DELAYS_S[min(retry, len(AWS_RETRY_DELAYS_S)) - 1]
        return int(aws * 1000 / self.retry_scale)

    def scaled_ms(self, aws_ms: int, floor: int = 0) -> int:
        """An AWS duration on this function's time scale (the retry delays' scale)."""
        return max(floor, int(aws_ms / self.retry_scale))

    def lease_ms(self, skew_ms: int) -> int:
        """The workers' lease term: with the skew, within 90% of the first retry's delay (1.7 s
        at the default scale), and at least MIN_LEASE_MS."""
        return max(MIN_LEASE_MS, int(0.9 * self.retry_delay_ms(1)) - skew_ms)

    def resolve(self, function: str) -> tuple[str, str | None] | None:
        """(name, qualifier) when `function` names this function (name, name:qualifier, partial
        or full ARN), else None."""
        parts = function.split(":")
        if parts[0] == "arn":
            # arn:aws:lambda:region:account:function:name[:qualifier]
            if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
                return None
            if parts[3] != self.region or parts[4] != self.account:
                return None
            rest = parts[6:]
        elif len(parts) >= 3 and parts[1] == "function":
            # account:function:name[:qualifier]
            if parts[0] != self.account or len(parts) > 4:
                return None
            rest = parts[2:]
        else:
            if len(parts) > 2:
                return None
            rest = parts
        name = rest[0]
        qualifier = rest[1] if len(rest) > 1 else None
        if name != self.name:
            return None
        return name, qualifier
