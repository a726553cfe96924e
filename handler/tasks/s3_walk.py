"""s3-walk: visit every object under a bucket/prefix in key order and apply an action to each.

The cursor is `start_after`, the last key whose action finished: readable, and valid forever
because ListObjectsV2 takes it as StartAfter. Listed pages are a transient buffer of the hop;
after a crash the walk lists again from the cursor, so no key is skipped (I4).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from handler.actions import ActionContext, ObjectRef, resolve_action, validate_action
from handler.actions.params import whole_number
from handler.tasks.base import JobFailure, Resources, StepContext, Task
from store.errors import InvalidJob

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEYS = 1_000
MIN_OBJECT_MS = 0.001
MAX_COUNT = 10**15
MAX_KEY_BYTES = 1_024
FAILURES_KEPT = 100
DEFAULT_MAX_FAILED = 1_000
PARAMS = (
    "bucket",
    "prefix",
    "start_after",
    "start_at",
    "end_before",
    "action",
    "action_params",
    "on_error",
    "max_failed",
    "expected_objects",
)


class S3Walk(Task):
    name = "s3-walk"
    progress_counter = "objects"

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.bucket: str = params["bucket"]
        self.prefix: str = params.get("prefix", "")
        self.on_error: str = params.get("on_error", "fail")
        self.max_failed: int = int(params.get("max_failed", DEFAULT_MAX_FAILED))
        self.action_name: str = params.get("action", "count")
        self.action = resolve_action(
            self.action_name, params.get("action_params", {}), resources.action_modules
        )
        self.start_at: str | None = params.get("start_at")
        self.end_before: str | None = params.get("end_before")
        self._buffer: deque[ObjectRef] = deque()
        self._listed_all = False
        self._last_listed: str | None = None
        self._actx: ActionContext | None = None
        self._object_ms = 0.0

    @classmethod
    def validate(cls, params: Mapping[str, Any], action_modules: tuple[str, ...]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise InvalidJob(
                f"s3-walk does not take {', '.join(unknown)}; it takes {', '.join(PARAMS)}"
            )
        bucket = params.get("bucket")
        if not isinstance(bucket, str) or not _BUCKET.match(bucket):
            raise InvalidJob(f"s3-walk needs bucket: an S3 bucket name, got {bucket!r}")
        out: dict[str, Any] = {"bucket": bucket}
        for key in ("prefix", "start_after", "start_at", "end_before"):
            value = params.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or len(value.encode()) > MAX_KEY_BYTES:
                raise InvalidJob(f"s3-walk {key} must be a string of at most 1,024 bytes")
            if value:
                out[key] = value
        if out.get("start_after") and out.get("start_at"):
            raise InvalidJob("s3-walk takes start_after or start_at, not both")
        low = out.get("start_at") or out.get("start_after")
        if low and out.get("end_before") and low >= out["end_before"]:
            raise InvalidJob("s3-walk end_before must come after start_at / start_after")
        action = params.get("action", "count")
        if not isinstance(action, str):
            raise InvalidJob("s3-walk action must be a string")
        action_params = params.get("action_params", {})
        if not isinstance(action_params, dict):
            raise InvalidJob("s3-walk action_params must be an object")
        out["action"] = action
        action_params = validate_action(action, action_params, action_modules)
        if action_params:
            out["action_params"] = action_params
        on_error = params.get("on_error", "fail")
        if on_error not in ("fail", "skip"):
            raise InvalidJob(f"s3-walk on_error must be 'fail' or 'skip', got {on_error!r}")
        out["on_error"] = on_error
        out["max_failed"] = whole_number(
            params, "max_failed", DEFAULT_MAX_FAILED, 0, MAX_COUNT, "s3-walk "
        )
        if params.get("expected_objects") is not None:
            out["expected_objects"] = whole_number(
                params, "expected_objects", 0, 0, MAX_COUNT, "s3-walk "
            )
        return out

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        expected = params.get("expected_objects")
        return int(expected) if isinstance(expected, int) else None

    def start(self) -> dict[str, Any]:
        return {"start_after": self.params.get("start_after"), "failures": [], "action": {}}

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        result = {"last_key": state.get("start_after")}
        result.update(self.action.summary(state.get("action", {})))
        if state.get("failures"):
            result["last_failures"] = state["failures"][-5:]
        return result

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        yield from self.action.report(state.get("action", {}))
        for failure in state.get("failures", []):
            yield {"type": "failed_object", **failure}

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Process one object, listing the next page first when the buffer is empty.

        Listing and processing share a step so every step moves the cursor: a hop whose window
        fits a single step still makes progress instead of listing the same page again.
        """
        while not self._buffer and not self._listed_all:
            self._list_page(state, ctx)
        if not self._buffer:
            return True
        obj = self._buffer.popleft()
        started = time.perf_counter()
        self._apply(obj, state, ctx)
        spent_ms = (time.perf_counter() - started) * 1000
        self._object_ms = 0.8 * self._object_ms + 0.2 * spent_ms if self._object_ms else spent_ms
        state["start_after"] = obj.key
        return self._listed_all and not self._buffer

    def _page_size(self, ctx: StepContext) -> int:
        """Size the page to the time left, so one listing never outruns the hop's window."""
        # Object times are floats from perf_counter; the floor keeps a near-free action (or a
        # subnormal average) from dividing into infinity.
        window = max(0, ctx.work_window_ms())
        return max(1, min(MAX_KEYS, int(window / max(self._object_ms, MIN_OBJECT_MS))))

    def _list_page(self, state: dict[str, Any], ctx: StepContext) -> None:
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix,
            "MaxKeys": self._page_size(ctx),
        }
        after = self._list_after(state)
        if after:
            request["StartAfter"] = after
        page = self.resources.s3.list_objects_v2(**request)
        self._listed_all = not page.get("IsTruncated", False)
        bucket = self.bucket
        append = self._buffer.append
        for item in page.get("Contents", []):
            key = item["Key"]
            self._last_listed = key
            if self.start_at is not None and key < self.start_at:
                continue  # listed from just below start_at; not this walk's key
            if self.end_before is not None and key >= self.end_before:
                self._listed_all = True  # the range ends here
                break
            append(
                ObjectRef(
                    bucket,
                    key,
                    int(item.get("Size", 0)),
                    str(item.get("ETag", "")).strip('"'),
                    str(item.get("StorageClass", "STANDARD")),
                    item.get("LastModified"),
                )
            )

    def _list_after(self, state: dict[str, Any]) -> str | None:
        """Where the next listing starts: after the last listed key, else after the cursor.

        S3's StartAfter is exclusive, so an inclusive `start_at` lists from its parent string
        (a shorter string sorts first) and drops keys below it. Str order is code-point order,
        which is the UTF-8 byte order S3 lists in.
        """
        if self._last_listed is not None:
            return self._last_listed
        cursor: str | None = state.get("start_after")
        if self.start_at and (cursor is None or cursor < self.start_at):
            return self.start_at[:-1] or None
        return cursor

    def _apply(self, obj: ObjectRef, state: dict[str, Any], ctx: StepContext) -> None:
        action_state = state.setdefault("action", {})
        actx = self._actx
        if actx is None or actx.state is not action_state:
            actx = self._actx = ActionContext(
                s3=self.resources.s3,
                params=self.params.get("action_params", {}),
                count=ctx.count,
                logger=ctx.logger,
                state=action_state,
            )
        try:
            self.action.process(obj, actx)
        except Exception as exc:
            where = f"action {self.action_name} failed on s3://{obj.bucket}/{obj.key}"
            if self.on_error == "fail":
                raise RuntimeError(f"{where}: {type(exc).__name__}: {exc}") from exc
            ctx.count("failed")
            failures = state.setdefault("failures", [])
            failures.append({"key": obj.key, "error": f"{type(exc).__name__}: {exc}"[:500]})
            del failures[:-FAILURES_KEPT]
            ctx.logger.warning("object skipped", extra={"key": obj.key, "error": str(exc)})
            if ctx.counters.get("failed", 0) > self.max_failed:
                raise JobFailure(
                    f"{ctx.counters['failed']} objects failed, over max_failed "
                    f"{self.max_failed}; last: {where}: {exc}"
                ) from exc
            return
        ctx.count("objects")
        ctx.count("bytes", obj.size)
