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
from typing import Annotated, Any, Self

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, model_validator

from baton.handler.api import (
    SHARD_PARAMS,
    ItemErrors,
    JobFailure,
    JobStatus,
    JsonObject,
    OnErrorParams,
    Resources,
    ShardParams,
    Shards,
    StepContext,
    Task,
    action_modules,
    plan_shards,
    resolve_function,
    shards_report,
    shards_summary,
    validate_function_name,
)

NAME = "dynamodb-scan"
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
MAX_PAGE = 1_000
FIRST_PAGE = 100
MAX_SEGMENTS = 1_000
MIN_ITEM_MS = 0.01
THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
MAX_BACKOFF_S = 5.0
ATTRIBUTE_TYPES = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}
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


def _typed_values(values: dict[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues as DynamoDB takes them: {":v": {"S": "x"}}, one type each."""
    for name, value in values.items():
        if not name.startswith(":"):
            raise ValueError(f"names must start with ':', got {name!r}")
        if not (isinstance(value, dict) and len(value) == 1 and set(value) <= ATTRIBUTE_TYPES):
            raise ValueError(
                f'must be typed attribute values like {{{name!r}: {{"N": "5"}}}} (one of '
                f"{', '.join(sorted(ATTRIBUTE_TYPES))}); {name} is {value!r}"
            )
    return values


def _attribute_names(names: dict[str, str]) -> dict[str, str]:
    for name in names:
        if not name.startswith("#"):
            raise ValueError(f"names must start with '#', got {name!r}")
    return names


def _table_name(value: str) -> str:
    if not _TABLE.match(value):
        raise ValueError("must be a DynamoDB table name (3-255 characters: A-Z a-z 0-9 _ . -)")
    return value


class DynamoDBScanParams(OnErrorParams, ShardParams):
    source_table: Annotated[str, AfterValidator(_table_name)] = Field(
        description="The table to scan"
    )
    action: str = Field("count", description="count, or module:function called with each item")
    action_params: JsonObject | None = Field(None, description="JSON object passed to the action")
    filter: str | None = Field(None, min_length=1, description="A FilterExpression")
    filter_names: Annotated[dict[str, str], AfterValidator(_attribute_names)] | None = Field(
        None, min_length=1, description='ExpressionAttributeNames as JSON: {"#s": "status"}'
    )
    filter_values: Annotated[JsonObject, AfterValidator(_typed_values)] | None = Field(
        None, min_length=1, description='ExpressionAttributeValues as JSON: {":v": {"S": "x"}}'
    )
    consistent_read: bool = Field(False, description="Strongly consistent reads")
    expected_items: int | None = Field(
        None, ge=0, le=10**15, description="How many items to expect, for progress and ETA"
    )
    segments: int = Field(
        1, ge=1, le=MAX_SEGMENTS, description="Parallel-scan segments, one child job each"
    )
    segment: int | None = Field(
        None, ge=0, le=MAX_SEGMENTS - 1, description="Scan only this segment (with total_segments)"
    )
    total_segments: int | None = Field(
        None, ge=1, le=MAX_SEGMENTS, description="The segments the table is cut into"
    )
    _stored: dict[str, Any] = PrivateAttr(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        return dict(self._stored)

    @model_validator(mode="after")
    def _scan(self, info: ValidationInfo) -> Self:
        if self.action != "count":
            validate_function_name(self.action, action_modules(info))
        for name in ("filter_names", "filter_values"):
            if getattr(self, name) is not None and self.filter is None:
                raise ValueError(f"{name} needs a filter")
        if self.filter is not None and not self.filter.strip():
            raise ValueError("filter must be a DynamoDB FilterExpression")
        out = self.model_dump(include=set(SCAN_PARAMS), exclude_none=True)
        if not out.get("action_params"):
            out.pop("action_params", None)
        given = self.model_fields_set
        sharded = [n for n in SHARD_PARAMS if n in given]
        if "segment" in given or "total_segments" in given:
            if self.segments != 1:
                raise ValueError("takes segments, or segment and total_segments, not both")
            total = self.total_segments or 1
            segment = self.segment or 0
            if segment >= total:
                raise ValueError(
                    f"segment must be a whole number from 0 to {total - 1}, got {segment}"
                )
            out.update(segment=segment, total_segments=total)
        elif self.segments > 1:
            out["segments"] = self.segments
            out.update(self.shard_settings(default_concurrency=self.segments))
            sharded = []
        if sharded:
            raise ValueError(f"takes {', '.join(sharded)} only with segments above 1")
        self._stored = out
        return self


class DynamoDBScan(Task):
    name = NAME
    progress_counter = "items"
    has_shards = True
    Params = DynamoDBScanParams

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.table: str = params["source_table"]
        self.action_name: str = params.get("action", "count")
        self.function: Callable[..., Any] | None = None
        if self.action_name != "count":
            self.function = resolve_function(self.action_name, resources.action_modules)
        self._errors = ItemErrors(params, "item")
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
            Shards.tally(state, ctx)
            ctx.commit_now()  # the plan is durable before any segment starts
            return False
        return Shards(self.resources, self.params, NAME).advance(state, ctx)

    def woken(self, state: Any) -> bool:
        if not isinstance(state, dict) or "shards" not in state:
            return False
        return Shards(self.resources, self.params, NAME).moved(state)

    def stopping(self, state: Any, status: JobStatus) -> None:
        if isinstance(state, dict) and "shards" in state:
            Shards.pass_on(self.resources, state, status)

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
        self._errors.failed(state, ctx, where, {"key": key}, exc)

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
