"""`on_error` for the input tasks: fail the attempt, or count the bad item and keep it in the state.

The same rule `s3-walk` applies to objects: under `skip` a failed item counts `failed`, its
entry (the last 100) goes to the state and the report, and past `max_failed` the job fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from baton.handler.parameters import TaskParams
from baton.handler.tasks.framework.base import JobFailure, StepContext

FAILURES_KEPT = 100
DEFAULT_MAX_FAILED = 1_000
MAX_COUNT = 10**15


class OnErrorParams(TaskParams):
    """`on_error` and `max_failed`, as every task with per-item failures takes them."""

    on_error: Literal["fail", "skip"] = Field(
        "fail", description="fail (retry, then fail the job) or skip (count the item, go on)"
    )
    max_failed: int = Field(
        DEFAULT_MAX_FAILED, ge=0, le=MAX_COUNT, description="With skip: fail past this many"
    )


class ItemErrors:
    """Applies `on_error` to one failed item (`noun` names it in messages: "object", "record")."""

    def __init__(self, params: Mapping[str, Any], noun: str = "item") -> None:
        self.on_error: str = params.get("on_error", "fail")
        self.max_failed: int = int(params.get("max_failed", DEFAULT_MAX_FAILED))
        self.noun = noun

    def failed(
        self,
        state: dict[str, Any],
        ctx: StepContext,
        where: str,
        entry: dict[str, Any],
        exc: Exception,
        *,
        retryable: bool = True,
    ) -> None:
        """Raise under `fail` (JobFailure when no retry can help); else count and remember it."""
        error = f"{type(exc).__name__}: {exc}"
        if self.on_error == "fail":
            if retryable:
                raise RuntimeError(f"{where}: {error}") from exc
            raise JobFailure(f"{where}: {error} (on_error: skip counts such items instead)")
        ctx.count("failed")
        failures = state.setdefault("failures", [])
        failures.append({**entry, "error": error[:500]})
        del failures[:-FAILURES_KEPT]
        ctx.logger.warning(f"{self.noun} skipped", extra={**entry, "error": error[:500]})
        if ctx.counters.get("failed", 0) > self.max_failed:
            raise JobFailure(
                f"{ctx.counters['failed']} {self.noun}s failed, over max_failed {self.max_failed}; "
                f"last: {where}: {error}"
            ) from exc
