"""s3-lines: the records of large JSON Lines or CSV objects, read through ranged GETs.

The cursor is the object's key and a byte offset at a record boundary: a hop reads ranges of
`range_size` bytes from there, so a 50 GB object is processed over many hops with memory bounded
by two ranges. A record that spans two ranges is joined; one longer than `range_size` fails the
job with its offset. A CSV object's first record is its header, kept in the state; a header that
repeats a column name fails the job (a record keyed by it would lose a field), and a UTF-8
byte-order mark at an object's start is dropped (CSV and JSON Lines alike). Every GET
carries If-Match on the ETag the object was started with: a replaced object fails the job.

gzip objects cannot be read from an offset: each hop streams the object from its start and
drops the bytes before the cursor, so they are read only up to `gzip_max_bytes` (compressed);
a larger one fails the job with a message saying so.

Counters: `records` (records the action finished), `bytes` (bytes of the object the cursor has
passed, header and blank lines included: the object's size once it is done; for gzip, the
decompressed size), `objects` (objects finished), `failed` (bad records under on_error: skip),
`blank_lines`.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self

from botocore.exceptions import ClientError
from pydantic import Field, ValidationInfo, model_validator

from baton.handler.api import (
    ActionContext,
    BoundContext,
    BucketName,
    ChunkSource,
    GzipObject,
    ItemErrors,
    JobFailure,
    JsonObject,
    KeyText,
    OnErrorParams,
    RangedObject,
    RecordSplitter,
    Resources,
    StepContext,
    Task,
    action_modules,
    resolve_function,
    validate_function_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable

FORMATS = ("jsonl", "csv")
MIB = 1024**2
DEFAULT_RANGE = 8 * MIB
MIN_RANGE = 1024
MAX_RANGE = 256 * MIB
DEFAULT_GZIP_MAX = 256 * MIB
MAX_KEY_BYTES = 1_024
LIST_PAGE = 1_000
BYTE_ORDER_MARK = "\ufeff"


class S3LinesParams(OnErrorParams):
    bucket: BucketName = Field(description="Bucket to read")
    key: KeyText | None = Field(None, min_length=1, description="The one object to read")
    prefix: KeyText | None = Field(None, description="Read every object under this prefix")
    format: Literal["jsonl", "csv"] = Field(description="jsonl or csv")
    csv_delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="csv: the field delimiter (default ,)"
    )
    action: str = Field("count", description="count, or module:function called with each record")
    action_params: JsonObject | None = Field(None, description="JSON object passed to the action")
    range_size: int = Field(
        DEFAULT_RANGE, ge=MIN_RANGE, le=MAX_RANGE, description="Bytes per ranged GET (8 MiB)"
    )
    gzip_max_bytes: int = Field(
        DEFAULT_GZIP_MAX, ge=0, le=5 * 1024**4, description="Largest gzip object to read"
    )
    expected_records: int | None = Field(
        None, ge=0, le=10**15, description="How many records to expect, for progress and ETA"
    )

    @model_validator(mode="after")
    def _source(self, info: ValidationInfo) -> Self:
        if (self.key is None) == (self.prefix is None):
            raise ValueError("needs key (one object) or prefix (every object under it)")
        if self.csv_delimiter is not None:
            if self.format != "csv":
                raise ValueError(f"takes csv_delimiter only with format csv, not {self.format}")
            if self.csv_delimiter in '"\r\n':
                raise ValueError("csv_delimiter must be one character (not a quote or newline)")
        if self.action != "count":
            validate_function_name(self.action, action_modules(info))
        return self

    def stored(self) -> dict[str, Any]:
        out = super().stored()
        if self.format == "csv":
            out["csv_delimiter"] = self.csv_delimiter or ","
        if not self.action_params:
            out.pop("action_params", None)
        return out


class Record(NamedTuple):
    """One record as an action sees it."""

    bucket: str
    key: str
    offset: int  # of the record's first byte in the object (decompressed, for gzip)
    text: str  # the record without its line end
    value: Any  # JSON Lines: the parsed JSON value; CSV: {header: field}


def repeated_columns(header: list[str]) -> str:
    """The header's repeated names with their 1-based positions ("column 'name' (2, 3)"), or ""."""
    positions: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(number)
    repeated = [
        f"column {name!r} ({', '.join(map(str, at))})"
        for name, at in positions.items()
        if len(at) > 1
    ]
    return "; ".join(repeated)


def is_gzip(key: str, content_encoding: str, content_type: str) -> bool:
    return (
        key.endswith((".gz", ".gzip"))
        or content_encoding.lower() == "gzip"
        or content_type.lower() in ("application/gzip", "application/x-gzip")
    )


class S3Lines(Task):
    name = "s3-lines"
    progress_counter = "records"
    Params = S3LinesParams

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.bucket: str = params["bucket"]
        self.csv = params["format"] == "csv"
        self.delimiter: str = params.get("csv_delimiter", ",")
        self.range_size: int = params.get("range_size", DEFAULT_RANGE)
        self.gzip_max: int = params.get("gzip_max_bytes", DEFAULT_GZIP_MAX)
        self.action_name: str = params.get("action", "count")
        self.function: Callable[[Record, ActionContext], None] | None = None
        if self.action_name != "count":
            self.function = resolve_function(self.action_name, resources.action_modules)
        self.errors = ItemErrors(params)
        self._listed: deque[str] = deque()
        self._listed_all = False
        self._splitter: RecordSplitter | None = None
        self._context = BoundContext(resources, params.get("action_params", {}))

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        expected = params.get("expected_records")
        return int(expected) if isinstance(expected, int) else None

    def start(self) -> dict[str, Any]:
        return {"key": None, "after": None, "offset": 0, "failures": [], "action": {}}

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"last_key": state.get("after") or state.get("key")}
        if state.get("failures"):
            result["last_failures"] = state["failures"][-5:]
        return result

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        for failure in state.get("failures", []):
            yield {"type": "failed_record", **failure}

    # ------------------------------------------------------------------ objects

    def _next_key(self, state: dict[str, Any]) -> str | None:
        """The next object to read: the one key, or the next listed under the prefix."""
        if "key" in self.params:
            return None if state.get("after") is not None else str(self.params["key"])
        while not self._listed and not self._listed_all:
            request: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": self.params["prefix"],
                "MaxKeys": LIST_PAGE,
            }
            after = state.get("after")
            if after is not None:
                request["StartAfter"] = after
            page = self.resources.s3.list_objects_v2(**request)
            self._listed.extend(item["Key"] for item in page.get("Contents", []))
            self._listed_all = not page.get("IsTruncated", False)
        return self._listed.popleft() if self._listed else None

    def _begin(self, key: str, state: dict[str, Any]) -> None:
        """Start an object: its ETag, size and encoding, fixed for the rest of the walk."""
        try:
            head = self.resources.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise JobFailure(f"s3://{self.bucket}/{key} does not exist") from exc
            raise
        size = int(head.get("ContentLength", 0))
        gz = is_gzip(key, str(head.get("ContentEncoding", "")), str(head.get("ContentType", "")))
        if gz and size > self.gzip_max:
            raise JobFailure(
                f"s3://{self.bucket}/{key} is gzip-compressed ({size:,} bytes, over gzip_max_bytes "
                f"{self.gzip_max:,}): gzip cannot be read from an offset, so every hop would "
                f"stream it from the start; decompress it first, or raise gzip_max_bytes"
            )
        state.update(
            key=key,
            etag=str(head.get("ETag", "")).strip('"'),
            size=size,
            gzip=gz,
            offset=0,
            header=None,
        )

    def _source(self, state: dict[str, Any]) -> ChunkSource:
        s3, key, etag = self.resources.s3, state["key"], state["etag"]
        if state["gzip"]:
            return GzipObject(s3, self.bucket, key, etag)
        return RangedObject(s3, self.bucket, key, etag, int(state["size"]))

    def _finish(self, state: dict[str, Any], ctx: StepContext) -> None:
        ctx.count("objects")
        state.update(after=state["key"], key=None, offset=0, header=None)
        for name in ("etag", "size", "gzip"):
            state.pop(name, None)
        self._splitter = None

    # ------------------------------------------------------------------ records

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Handle one record (starting the next object first when none is open)."""
        if state.get("key") is None:
            key = self._next_key(state)
            if key is None:
                return True
            self._begin(key, state)
        splitter = self._splitter
        if splitter is None or splitter.buf_start + splitter.pos != state["offset"]:
            splitter = self._splitter = RecordSplitter(
                self._source(state), int(state["offset"]), self.range_size, self.csv
            )
        where = f"s3://{self.bucket}/{state['key']}"
        found = splitter.next_record(where)
        if found is None:
            self._finish(state, ctx)
            return "key" in self.params
        offset, raw = found
        state["offset"] = offset + len(raw)
        ctx.count("bytes", len(raw))
        self._record(offset, raw, state, ctx)
        return False

    def _record(self, offset: int, raw: bytes, state: dict[str, Any], ctx: StepContext) -> None:
        key = state["key"]
        where = f"record at byte {offset:,} of s3://{self.bucket}/{key}"
        entry = {"key": key, "offset": offset}
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            self.errors.failed(state, ctx, f"{where} is not UTF-8", entry, exc, retryable=False)
            return
        if offset == 0:
            # A byte-order mark (Excel writes one) is no part of the first record or column.
            text = text.removeprefix(BYTE_ORDER_MARK)
        if not text.strip():
            ctx.count("blank_lines")
            return
        if self.csv and state.get("header") is None:
            try:
                header = self._fields(text)
            except ValueError as exc:
                raise JobFailure(f"the CSV header of s3://{self.bucket}/{key}: {exc}") from exc
            repeated = repeated_columns(header)
            if repeated:
                raise JobFailure(
                    f"the CSV header of s3://{self.bucket}/{key} repeats {repeated}: each record "
                    f"would keep only the last of their fields; give every column its own name"
                )
            state["header"] = header
            return
        try:
            value = self._parse(text, state)
        except ValueError as exc:
            self.errors.failed(state, ctx, f"{where} is malformed", entry, exc, retryable=False)
            return
        if self.function is not None:
            try:
                self.function(
                    Record(self.bucket, key, offset, text, value), self._context.of(state, ctx)
                )
            except Exception as exc:
                where = f"action {self.action_name} failed on {where}"
                self.errors.failed(state, ctx, where, entry, exc)
                return
        ctx.count("records")

    def _fields(self, text: str) -> list[str]:
        try:
            return next(csv.reader([text], delimiter=self.delimiter, strict=True))
        except csv.Error as exc:
            raise ValueError(f"CSV: {exc}") from exc

    def _parse(self, text: str, state: dict[str, Any]) -> Any:
        if not self.csv:
            return json.loads(text)
        fields = self._fields(text)
        header: list[str] = state["header"]
        if len(fields) != len(header):
            raise ValueError(f"{len(fields)} fields, the header has {len(header)}")
        return dict(zip(header, fields, strict=True))
