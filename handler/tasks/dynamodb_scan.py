"""dynamodb-scan: visit every item of a DynamoDB table and apply an action to each.

Written only against `baton.handler.api`, as any user's task would be.

The cursor is the key of the last item whose action finished, used as the Scan's
ExclusiveStartKey (a LastEvaluatedKey is nothing else: the key of the last item read). Pages are
a transient buffer of the hop, sized to the time left; after a crash the scan reads again from
the cursor, so no item is skipped and `items` counts each item once (it is committed with the
cursor). With `segments` > 1 the job is a parent: one child job per parallel-scan segment,
their counters added up in the parent's.

Items changed during the scan: an item present from start to end is visited exactly once (its
position in the scan is its key, so updating it never moves it); an item deleted before the scan
reaches it is not visited; an item added during the scan is visited if its key falls after the
cursor, so it may or may not be.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from baton.handler.api import (
    SHARD_PARAMS,
    InvalidJob,
    JobFailure,
    JobStatus,
    Resources,
    Shards,
    StepContext,
    Task,
    known_params,
    pass_on_request,
    plan_shards,
    resolve_function,
    shards_report,
    shards_summary,
    tally,
    validate_function_name,
    validate_shard_params,
    whole_number,
)

NAME = "dynamodb-scan"
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
MAX_PAGE = 1_000
FIRST_PAGE = 100
MAX_SEGMENTS = 1_000
MIN_ITEM_MS = 0.01
FAILURES_KEPT = 100
DEFAULT_MAX_FAILED = 1_000
THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
MAX_BACKOFF_S = 5.0
SCAN_PARAMS = (
    "source_table",
    "action",
    "action_params",
    "filter",
    "filter_names",
    "filter_values",
    "consistent_read",
    "on_error",
    "max_failed",
    "expected_items",
)
PARAMS = (*SCAN_PARAMS, "segments", "segment", "total_segments", *SHARD_PARAMS)


@dataclass
class ItemContext:
    """What a per-item function receives with the item (DynamoDB's typed attribute values).

    `key` is the item's primary key, ready for UpdateItem / DeleteItem on `table`.
    """

    dynamodb: Any
    table: str
    key: dict[str, Any]
    params: Mapping[str, Any]
    count: Callable[[str, int], None]
    logger: Logger
    state: dict[str, Any]


def _whole(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    return whole_number(params, name, default, low, high, f"{NAME} ")


def _mapping(params: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise InvalidJob(f"{NAME} {name} must be a non-empty JSON object, got {value!r}")
    return dict(value)


class DynamoDBScan(Task):
    name = NAME
    progress_counter = "items"
    has_shards = True

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.table: str = params["source_table"]
        self.action_name: str = params.get("action", "count")
        self.function: Callable[..., Any] | None = None
        if self.action_name != "count":
            self.function = resolve_function(self.action_name, resources.action_modules)
        self._buffer: deque[dict[str, Any]] = deque()
        self._page_end: dict[str, Any] | None = None
        self._listed_all = False
        self._page_started_ms = 0
        self._page_items = 0
        self._backoff_s = 0.0

    @property
    def is_parent(self) -> bool:
        return int(self.params.get("segments", 1)) > 1

    # ------------------------------------------------------------------ parameters

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        known_params(params, PARAMS, NAME)
        table = params.get("source_table")
        if not isinstance(table, str) or not _TABLE.match(table):
            raise InvalidJob(f"{NAME} needs source_table: a DynamoDB table name, got {table!r}")
        out: dict[str, Any] = {"source_table": table}
        action = params.get("action", "count")
        if not isinstance(action, str):
            raise InvalidJob(f"{NAME} action must be a string")
        if action != "count":
            validate_function_name(action, action_modules)
        out["action"] = action
        action_params = params.get("action_params", {})
        if not isinstance(action_params, dict):
            raise InvalidJob(f"{NAME} action_params must be a JSON object")
        if action_params:
            out["action_params"] = action_params
        expression = params.get("filter")
        if expression is not None:
            if not isinstance(expression, str) or not expression.strip():
                raise InvalidJob(f"{NAME} filter must be a DynamoDB FilterExpression string")
            out["filter"] = expression
        for name in ("filter_names", "filter_values"):
            value = _mapping(params, name)
            if value is not None:
                if "filter" not in out:
                    raise InvalidJob(f"{NAME} {name} needs a filter")
                out[name] = value
        consistent = params.get("consistent_read", False)
        if not isinstance(consistent, bool):
            raise InvalidJob(f"{NAME} consistent_read must be true or false")
        out["consistent_read"] = consistent
        on_error = params.get("on_error", "fail")
        if on_error not in ("fail", "skip"):
            raise InvalidJob(f"{NAME} on_error must be 'fail' or 'skip', got {on_error!r}")
        out["on_error"] = on_error
        out["max_failed"] = _whole(params, "max_failed", DEFAULT_MAX_FAILED, 0, 10**15)
        if params.get("expected_items") is not None:
            out["expected_items"] = _whole(params, "expected_items", 0, 0, 10**15)
        segments = _whole(params, "segments", 1, 1, MAX_SEGMENTS)
        if "segment" in params or "total_segments" in params:
            if segments != 1:
                raise InvalidJob(f"{NAME} takes segments, or segment and total_segments, not both")
            total = _whole(params, "total_segments", 1, 1, MAX_SEGMENTS)
            out["segment"] = _whole(params, "segment", 0, 0, total - 1)
            out["total_segments"] = total
        elif segments > 1:
            out["segments"] = segments
            out.update(validate_shard_params({"max_concurrency": segments, **params}, NAME))
        return out

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        expected = params.get("expected_items")
        return int(expected) if isinstance(expected, int) else None

    # ------------------------------------------------------------------ the job

    def start(self) -> dict[str, Any]:
        if self.is_parent:
            return {"planned": False, "shards": []}
        return {"cursor": None, "key_attrs": None, "failures": [], "action": {}}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if self.is_parent:
            return self._fan_out(state, ctx)
        if state["key_attrs"] is None:
            state["key_attrs"] = self._key_attrs()
            return False
        while not self._buffer and not self._listed_all:
            if not self._scan_page(state, ctx):
                return False  # throttled: backed off; the relay decides whether to go on
            if not self._buffer and self._page_end is not None:
                state["cursor"] = self._page_end  # a page of filtered-out items: move on
                return False
        if not self._buffer:
            return True  # the segment (or table) ended right after the cursor
        item = self._buffer.popleft()
        key = {name: item[name] for name in state["key_attrs"]}
        self._apply(item, key, state, ctx)
        self._page_items += 1
        self._learn_item_ms(state, ctx)
        # The page's own end can lie past its last returned item (filtered-out items).
        state["cursor"] = key if self._buffer or self._page_end is None else self._page_end
        return self._listed_all and not self._buffer

    def _fan_out(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if not state["planned"]:
            total = int(self.params["segments"])
            child = {k: self.params[k] for k in SCAN_PARAMS if k in self.params}
            child.pop("expected_items", None)
            state["shards"] = plan_shards(
                ctx.job_id,
                ((NAME, {**child, "segment": i, "total_segments": total}) for i in range(total)),
            )
            state["planned"] = True
            tally(state, ctx)
            ctx.commit_now()  # the plan is durable before any segment starts
            return False
        return Shards(self.resources, self.params, NAME).advance(state, ctx)

    def woken(self, state: Any) -> bool:
        if not isinstance(state, dict) or "shards" not in state:
            return False
        return Shards(self.resources, self.params, NAME).moved(state)

    def stopping(self, state: Any, status: JobStatus) -> None:
        if isinstance(state, dict) and "shards" in state:
            pass_on_request(self.resources, state, status)

    def _client(self) -> Any:
        if self.resources.dynamodb is None:
            raise JobFailure(f"{NAME} needs a DynamoDB client; this runtime has none")
        return self.resources.dynamodb

    def _key_attrs(self) -> list[str]:
        try:
            table = self._client().describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise JobFailure(f"{NAME}: table {self.table!r} does not exist") from exc
            raise
        return [k["AttributeName"] for k in table["KeySchema"]]

    def _learn_item_ms(self, state: dict[str, Any], ctx: StepContext) -> None:
        """Per-item time as the relay sees it (the action and the relay's own work), on the
        clock the budget uses, from the end of the page's Scan call: the call's own time is
        mostly a fixed cost per page (learned apart, as `page_ms`), and spreading it over the
        page's items would make a small page look slow per item, and the next page smaller
        still. Both are kept in the state, so the next hop's first page is sized too."""
        spent = self._page_started_ms - ctx.remaining_ms()
        state["item_ms"] = round(max(MIN_ITEM_MS, spent / self._page_items), 3)

    def _limit(self, state: dict[str, Any], ctx: StepContext) -> int:
        """Size the page to what the hop's time left can process after the Scan call itself,
        so a hop never reads (and pays read units for) items it has no time for; the first
        page of a job is small."""
        item_ms = state.get("item_ms")
        if not item_ms:
            return FIRST_PAGE
        window = max(0, ctx.work_window_ms() - int(state.get("page_ms", 0)))
        return max(1, min(MAX_PAGE, int(window / float(item_ms))))

    def _scan_page(self, state: dict[str, Any], ctx: StepContext) -> bool:
        request: dict[str, Any] = {
            "TableName": self.table,
            "Limit": self._limit(state, ctx),
            "ConsistentRead": self.params.get("consistent_read", False),
        }
        cursor = self._page_end if self._page_end is not None else state["cursor"]
        if cursor:
            request["ExclusiveStartKey"] = cursor
        if "segment" in self.params:
            request["Segment"] = self.params["segment"]
            request["TotalSegments"] = self.params["total_segments"]
        if "filter" in self.params:
            request["FilterExpression"] = self.params["filter"]
            if "filter_names" in self.params:
                request["ExpressionAttributeNames"] = self.params["filter_names"]
            if "filter_values" in self.params:
                request["ExpressionAttributeValues"] = self.params["filter_values"]
        before = ctx.remaining_ms()
        try:
            page = self._client().scan(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLE_CODES:
                self._throttled(ctx, code)
                return False
            if code in ("ValidationException", "ResourceNotFoundException"):
                raise JobFailure(f"{NAME} on table {self.table!r}: {code}: {exc}") from exc
            raise
        self._backoff_s = 0.0
        self._page_started_ms, self._page_items = ctx.remaining_ms(), 0
        state["page_ms"] = max(0, before - self._page_started_ms)
        ctx.count("scanned", int(page.get("ScannedCount", 0)))
        self._buffer.extend(page.get("Items", []))
        self._page_end = page.get("LastEvaluatedKey")
        self._listed_all = self._page_end is None
        return True

    def _throttled(self, ctx: StepContext, code: str) -> None:
        """Back off (doubling, within the hop's window) and count it; never fail for it."""
        ctx.count("throttled")
        self._backoff_s = min(MAX_BACKOFF_S, self._backoff_s * 2 or 0.1)
        wait_s = min(self._backoff_s, max(0, ctx.work_window_ms() - 100) / 1000)
        ctx.logger.warning("scan throttled; backing off", extra={"code": code, "wait_s": wait_s})
        if wait_s > 0:
            self.resources.sleep(wait_s)

    def _apply(
        self, item: dict[str, Any], key: dict[str, Any], state: dict[str, Any], ctx: StepContext
    ) -> None:
        if self.function is not None:
            ictx = ItemContext(
                dynamodb=self.resources.dynamodb,
                table=self.table,
                key=key,
                params=self.params.get("action_params", {}),
                count=ctx.count,
                logger=ctx.logger,
                state=state.setdefault("action", {}),
            )
            try:
                self.function(item, ictx)
            except Exception as exc:
                self._failed(key, exc, state, ctx)
                return
        ctx.count("items")

    def _failed(
        self, key: dict[str, Any], exc: Exception, state: dict[str, Any], ctx: StepContext
    ) -> None:
        where = f"action {self.action_name} failed on {self.table} item {key}"
        if self.params.get("on_error", "fail") == "fail":
            raise RuntimeError(f"{where}: {type(exc).__name__}: {exc}") from exc
        ctx.count("failed")
        failures = state.setdefault("failures", [])
        failures.append({"key": key, "error": f"{type(exc).__name__}: {exc}"[:500]})
        del failures[:-FAILURES_KEPT]
        if ctx.counters.get("failed", 0) > int(self.params.get("max_failed", DEFAULT_MAX_FAILED)):
            raise JobFailure(
                f"{ctx.counters['failed']} items failed, over max_failed; last: {where}: {exc}"
            ) from exc

    # ------------------------------------------------------------------ results

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.is_parent:
            return shards_summary(state)
        result: dict[str, Any] = {"table": self.table}
        if "segment" in self.params:
            result["segment"] = f"{self.params['segment']}/{self.params['total_segments']}"
        if state.get("failures"):
            result["last_failures"] = state["failures"][-5:]
        return result

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        if self.is_parent:
            yield from shards_report(state)
            return
        for failure in state.get("failures", []):
            yield {"type": "failed_item", **failure}
