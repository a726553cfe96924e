"""The Lambda API's calls that change the local function's configuration: reserved concurrency,
the async invoke config (retries, event age) and tags.

Reserved concurrency, retries and event age are fields of the function's `FunctionConfig`; the
tags, and when the invoke config was set, are kept here. A change to the concurrency wakes the
service's dispatcher (through the condition it shares), which reads the cap again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from baton.local.lambda_service import errors
from baton.local.lambda_service.function_config import FunctionConfig


class FunctionConfigApi:
    """PutFunctionConcurrency, PutFunctionEventInvokeConfig, TagResource and their reads and
    deletes, on one `FunctionConfig`; a bad value raises the LambdaApiError AWS answers with."""

    def __init__(self, config: FunctionConfig, wake: threading.Condition) -> None:
        self.config = config
        self._cond = wake
        # The function's tags (GetFunction, TagResource, UntagResource).
        self.tags: dict[str, str] = {}
        self._event_config_set_at: float | None = None

    def put_concurrency(self, reserved: int) -> int:
        if not 0 <= reserved <= self.config.account_concurrency:
            raise errors.invalid_parameter(
                f"ReservedConcurrentExecutions must be between 0 and the local account's "
                f"concurrency ({self.config.account_concurrency}), got {reserved}"
            )
        with self._cond:
            self.config.reserved_concurrency = reserved
            self._cond.notify_all()
        return reserved

    def get_concurrency(self) -> int | None:
        return self.config.reserved_concurrency

    def delete_concurrency(self) -> None:
        with self._cond:
            self.config.reserved_concurrency = None
            self._cond.notify_all()

    def put_event_invoke_config(self, retries: int | None, max_age_s: int | None) -> None:
        if retries is not None:
            if not 0 <= retries <= 2:
                raise errors.invalid_parameter("MaximumRetryAttempts must be between 0 and 2")
            self.config.max_retry_attempts = retries
        if max_age_s is not None:
            if not 60 <= max_age_s <= 21_600:
                raise errors.invalid_parameter(
                    "MaximumEventAgeInSeconds must be between 60 and 21600"
                )
            self.config.max_event_age_s = max_age_s
        self._event_config_set_at = time.time()

    def event_invoke_config(self) -> dict[str, Any] | None:
        if self._event_config_set_at is None:
            return None
        return {
            "LastModified": self._event_config_set_at,
            "FunctionArn": f"{self.config.arn}:$LATEST",
            "MaximumRetryAttempts": self.config.max_retry_attempts,
            "MaximumEventAgeInSeconds": self.config.max_event_age_s,
            "DestinationConfig": {},
        }

    def delete_event_invoke_config(self) -> None:
        self._event_config_set_at = None
        self.config.max_retry_attempts = 2
        self.config.max_event_age_s = 21_600
