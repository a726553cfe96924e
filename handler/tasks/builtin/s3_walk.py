"""s3-walk: visit every object under a bucket/prefix in key order and apply an action to each.

The cursor is `start_after`, the last key before which every object is done (the low
watermark): readable, and valid forever because ListObjectsV2 takes it as StartAfter. Listed
pages are a transient buffer of the hop, and the next page is listed while this one is worked;
after a crash the walk lists again from the cursor, so no key is skipped (I4).

At `concurrency` N > 1 up to N objects run on a pool of threads at once. Each in-flight object
keeps its own counters and action state; they are merged into the job's, in key order, only
when every object before it is done, and only then does the cursor move past it. The state and
counters the relay commits between steps are therefore exactly those of the objects below the
cursor (I3): a crash re-runs only the objects that were in flight or finished above it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import Field, model_validator

from baton.handler.api import (
    MAX_WORKERS,
    ActionContext,
    BucketName,
    KeyRange,
    KeyText,
    Lister,
    ObjectActionParams,
    ObjectActions,
    ObjectRef,
    Page,
    Resources,
    StepContext,
    Task,
    WorkPool,
    action_class,
    key_before,
    merge_state,
)

MAX_KEYS = 1_000
MIN_OBJECT_MS = 0.001
MAX_CONCURRENCY = MAX_WORKERS
# Objects listed and unmerged behind a slow one, per worker: how far the pool may run ahead of
# the watermark (what a crash may have to redo).
AHEAD_PER_WORKER = 4
# A step waits for the objects at the watermark at most this long (or two objects' time), so
# the relay reads the budget and checkpoints between steps even behind a slow object.
MIN_WAIT_MS = 50
# Objects are submitted only while the window holds this many times the time they need.
DRAIN_FACTOR = 2
# Objects queued for the pool beyond its workers: one per this many workers, at least one. A
# worker that finishes then takes the next object at once, instead of idling until the walk's
# own thread wakes (behind the workers for the interpreter lock) and submits one.
WORKERS_PER_QUEUED = 4
# A page is sized to take at most 1/PAGE_SLACK of the window left, listing and processing
# included: its wait is not reserved in the hand-off margin (see StepContext.sized_wait), so a
# page that lists twice as slowly as measured must still end before the margin. Near the end of
# a hop the pages shrink geometrically; each costs one more request, not an unused margin.
PAGE_SLACK = 2
# A page asked for while time is left holds at least this many keys (see _request_size).
MIN_PAGE_KEYS = 100
# The page ahead is requested only if it can hold this many keys (or a quarter of the page just
# taken, for slow actions): a smaller one would cost mostly its round trip, and the hop likely
# hands off before it needs it.
MIN_PREFETCH_KEYS = 100


class S3WalkParams(ObjectActionParams):
    bucket: BucketName = Field(description="Bucket to walk")
    prefix: KeyText | None = Field(None, description="Only keys under this prefix")
    start_after: KeyText | None = Field(None, description="Begin after this key")
    start_at: KeyText | None = Field(None, description="Begin at this key")
    end_before: KeyText | None = Field(None, description="Stop before this key")
    concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_CONCURRENCY,
        description="Objects in flight at once within a hop (default 8 for module:function "
        "actions, 1 for built-ins); the cursor is the key before which all are done",
    )

    @model_validator(mode="after")
    def _key_range(self) -> Self:
        for name in ("prefix", "start_after", "start_at", "end_before"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        if self.start_after and self.start_at:
            raise ValueError("takes start_after or start_at, not both")
        low = self.start_at or self.start_after
        if low and self.end_before and low >= self.end_before:
            raise ValueError("end_before must come after start_at / start_after")
        kind = action_class(self.action)
        if self.concurrency is None:
            self.concurrency = kind.default_concurrency
        elif self.concurrency > kind.max_concurrency:
            raise ValueError(
                f"action {self.action} runs one object at a time (it only reads the listing "
                f"and keeps its totals in key order); concurrency must be 1, got "
                f"{self.concurrency}"
            )
        return self


def carried_object_ms(ctx: StepContext) -> float | None:
    """Per-object time measured by earlier hops of the job (wall time per object, the listing
    included, carried in the job's `timing`), to size a hop's first page; None before any hop
    measured one, when the first page is sized by the window alone."""
    return ctx.item_ms() or None


@dataclass
class InFlight:
    """One object on the pool: its own counters and action state until it is merged."""

    obj: ObjectRef
    future: Future[None] = field(init=False)
    counters: dict[str, int] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + int(n)


class S3Walk(Task):
    name = "s3-walk"
    progress_counter = "objects"
    Params = S3WalkParams

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        super().__init__(params, resources)
        self.bucket: str = params["bucket"]
        self.actions = ObjectActions(params, resources)
        self.concurrency: int = int(params.get("concurrency", 1))
        # Objects the pool holds when full: its workers and the queue in front of them.
        self._pool_holds = self.concurrency + max(1, self.concurrency // WORKERS_PER_QUEUED)
        self.start_at: str | None = params.get("start_at")
        # The exclusive StartAfter of an inclusive start_at: the greatest key below it.
        self._start_after = key_before(self.start_at) if self.start_at else None
        keys = KeyRange(
            self.bucket, params.get("prefix", ""), self.start_at, params.get("end_before")
        )
        self._lister = Lister(resources.s3, keys, resources.pools)
        self._buffer: deque[ObjectRef] = deque()
        self._listed_all = False
        self._last_listed: str | None = None
        self._pool: WorkPool | None = None
        self._in_flight: deque[InFlight] = deque()
        # Measured in this hop: the remaining time at its first step, and objects merged since.
        self._started_ms: int | None = None
        self._done = 0
        self._object_ms: float | None = None

    @classmethod
    def expected_total(cls, params: Mapping[str, Any]) -> int | None:
        expected = params.get("expected_objects")
        return int(expected) if isinstance(expected, int) else None

    def start(self) -> dict[str, Any]:
        return {"start_after": self.params.get("start_after"), "failures": [], "action": {}}

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"last_key": state.get("start_after"), **self.actions.summary(state)}

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return self.actions.report(state)

    def close(self) -> None:
        self._lister.close()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._in_flight.clear()

    # ------------------------------------------------------------------ one object at a time

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Process one object (or, concurrently, merge the objects done at the watermark),
        listing the next page first when the buffer is empty.

        Listing and processing share a step so every step moves the cursor: a hop whose window
        fits a single step still makes progress instead of listing the same page again.
        """
        if self._started_ms is None:
            self._started_ms = ctx.remaining_ms()
        if self.concurrency > 1:
            return self._step_concurrently(state, ctx)
        while not self._buffer and not self._listed_all:
            self._list_page(state, ctx)
            if self._passed_out_of_range(state, ctx):
                return False
        if not self._buffer:
            return True
        if not self.actions.action.per_object:
            return self._count_page(state, ctx)
        obj = self._buffer.popleft()
        self.actions.apply(obj, state, ctx)
        self._done += 1
        state["start_after"] = obj.key
        return self._listed_all and not self._buffer

    def _count_page(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """An action with nothing to do per object (count): every listed object is one step,
        counted as `ObjectActions.done` counts one, with the cursor at the last of them."""
        objects = list(self._buffer)
        self._buffer.clear()
        ctx.count("objects", len(objects))
        ctx.count("bytes", sum(obj.size for obj in objects))
        self._done += len(objects)
        state["start_after"] = objects[-1].key
        return self._listed_all

    # ------------------------------------------------------------------ listing

    def _measure(self, remaining_ms: int, ctx: StepContext) -> float | None:
        """Milliseconds per object: this hop's own rate once it has one, else the job's."""
        if self._done and self._started_ms is not None:
            self._object_ms = max(self._started_ms - remaining_ms, 0) / self._done
        return self._object_ms if self._object_ms is not None else carried_object_ms(ctx)

    def _page_size(self, window_ms: float, object_ms: float | None) -> int:
        """As many keys as 1/PAGE_SLACK of the window has time for, so a listing never outruns
        the hop (its wait is not held in the hand-off margin)."""
        if window_ms <= 0:
            return 1
        if object_ms is None:
            return MAX_KEYS
        # The floor keeps a near-free action (or a zero measurement) from dividing into infinity.
        per_key = PAGE_SLACK * max(object_ms, MIN_OBJECT_MS)
        return max(1, min(MAX_KEYS, int(window_ms / per_key)))

    def _request_size(self, window_ms: float, object_ms: float | None) -> int:
        """MaxKeys to ask for: the window's share, but never under MIN_PAGE_KEYS while time is
        left. The per-object time includes each request's round trip, so pages sized below it
        measure a higher per-object time and shrink further (a hop of 1-key pages, seen under
        load); keys listed beyond the window cost only their listing and are dropped at hop
        end (the cursor is the last key done)."""
        share = self._page_size(window_ms, object_ms)
        return max(share, MIN_PAGE_KEYS) if window_ms > 0 else share

    def _list_page(self, state: dict[str, Any], ctx: StepContext) -> None:
        before = ctx.remaining_ms()
        object_ms = self._measure(before, ctx)
        window = ctx.work_window_ms()
        size = self._page_size(window, object_ms)
        page = self._lister.page(self._list_after(state), self._request_size(window, object_ms))
        after = ctx.remaining_ms()
        if object_ms is not None:
            # A page sized to the window (the pages of a hop with no measurement yet are not).
            ctx.sized_wait(before - after)
        self._take(page)
        if self._listed_all:
            return
        # Request the next page now, sized to the window left after this one, unless it could
        # not hold a useful page in that time (the hop would hand off before it used it).
        if object_ms is None and not self.actions.action.per_object and page.objects:
            # A walk that counts a page in one step (count) spends a step on its listing: the
            # listing just measured what a key costs. Sized from it, the page ahead overlaps
            # this one's step as the plain loop's does, and never outruns the window (a whole
            # page asked blind would: a window that held one such listing but not two would
            # end every hop there, killed at its deadline with nothing committed).
            object_ms = max(before - after, 0) / len(page.objects)
        queued = len(self._buffer) + len(self._in_flight)
        left = window - (before - after) - queued * (object_ms or 0.0)
        if object_ms is None:
            # Unmeasured, the page ahead is a whole MAX_KEYS page: an action that works per
            # object gives it the page's objects' time to arrive.
            wanted = self.actions.action.per_object
        else:
            wanted = self._page_size(left, object_ms) >= min(MIN_PREFETCH_KEYS, max(1, size // 4))
        if left > 0 and wanted:
            self._lister.prefetch(self._last_listed, self._request_size(left, object_ms))

    def _take(self, page: Page) -> None:
        if page.last_listed is not None:
            self._last_listed = page.last_listed
        self._listed_all = page.listed_all
        self._buffer.extend(page.objects)

    def _list_after(self, state: dict[str, Any]) -> str | None:
        """Where the next listing starts: after the last listed key, else after the cursor.

        S3's StartAfter is exclusive, so an inclusive `start_at` lists after the greatest key
        below it (`key_before`): the first page starts at the shard's first key, never in a
        neighbour's keys (`data-backup/` sorts between `data` and `data/`).
        """
        if self._last_listed is not None:
            return self._last_listed
        cursor: str | None = state.get("start_after")
        if self._start_after is not None and (cursor is None or cursor < self._start_after):
            return self._start_after
        return cursor

    def _passed_out_of_range(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """After a page with none of the walk's keys (only keys below `start_at` can be
        dropped before the range ends): move the cursor over them, since nothing is buffered
        or in flight below them, and say whether the window is spent, so a listing that skips
        never runs past the hop's budget and the next hop does not list the same keys again."""
        if self._buffer or self._in_flight or self._listed_all or self._last_listed is None:
            return False
        cursor = state.get("start_after")
        if cursor is None or cursor < self._last_listed:
            state["start_after"] = self._last_listed
        return ctx.work_window_ms() <= 0

    # ------------------------------------------------------------------ many at a time

    def _step_concurrently(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Keep the pool fed, then merge every object done at the watermark.

        The first step of a hop waits for its first object however long it takes (every hop
        moves the cursor); later steps wait at most a short slice, so the relay checks the
        budget and checkpoints between steps even while a slow object holds the watermark.
        """
        # The clock is read twice per step and once per wait: a step is short, and under load
        # (a clock read is not free) the walk should not spend its window reading the time.
        now = ctx.remaining_ms()
        window = ctx.work_window_ms()
        object_ms = self._measure(now, ctx)
        fill = self._fill(window, object_ms)
        latency = (object_ms or 0.0) * self.concurrency
        wait_until: int | None = None
        if self._done:
            wait_until = now - int(max(0.0, min(window, max(MIN_WAIT_MS, 2 * latency))))
        while True:
            seen = self._pool.settled() if self._pool is not None else 0
            self._feed(state, ctx, fill)
            if self._merge(state, ctx):
                return self._finished()
            if not self._in_flight:
                # Nothing listed is left, or the budget stopped feeding: the relay hands off.
                return self._finished()
            timeout_s: float | None = None
            if wait_until is not None:
                left_ms = ctx.remaining_ms() - wait_until
                if left_ms <= 0:
                    return False
                timeout_s = left_ms / 1000
            assert self._pool is not None
            self._pool.wait_settled(seen, timeout_s)

    def _fill(self, window_ms: float, object_ms: float | None) -> int:
        """How many objects the pool may hold now so that it drains before the margin.

        One object takes about (time per object x workers) while the pool is full. An object
        started now ends about that much later; one queued now starts up to that much later and
        then runs as long. The window must hold DRAIN_FACTOR times what they need: the queue is
        kept only while it holds that for a queued object, the workers while it holds it for a
        running one, and past that the pool drains (an empty pool still takes one object).
        """
        latency = (object_ms or 0.0) * self.concurrency
        if window_ms > DRAIN_FACTOR * 2 * latency:
            return self._pool_holds
        if window_ms > DRAIN_FACTOR * latency:
            return self.concurrency
        return 0

    def _finished(self) -> bool:
        return self._listed_all and not self._buffer and not self._in_flight

    def _feed(self, state: dict[str, Any], ctx: StepContext, fill: int) -> None:
        """Submit objects while the pool holds fewer than `fill` (what the budget lets it hold
        so that it drains before the margin) and it is not too far ahead of the watermark. An
        empty pool always takes one, so every step moves on."""
        running = self._pool.pending() if self._pool is not None else 0
        ahead = AHEAD_PER_WORKER * self.concurrency
        while running < max(fill, 1) and len(self._in_flight) < ahead:
            if not self._buffer:
                if self._listed_all:
                    return
                self._list_page(state, ctx)
                if self._passed_out_of_range(state, ctx):
                    return
                continue
            if self._in_flight and running >= fill:
                return
            self._submit(self._buffer.popleft(), state)
            running += 1

    def _submit(self, obj: ObjectRef, state: dict[str, Any]) -> None:
        if self._pool is None:
            self._pool = self.resources.pools(self.concurrency)
        flight = InFlight(obj)
        actx = ActionContext(
            s3=self.resources.s3,
            params=self.actions.action_params,
            count=flight.count,
            logger=self.resources.logger,
            state=flight.state,
        )
        process = self.actions.action.process
        flight.future = self._pool.submit(lambda: process(obj, actx))
        self._in_flight.append(flight)

    def _merge(self, state: dict[str, Any], ctx: StepContext) -> int:
        """Merge the done objects at the head, in key order; the cursor follows them."""
        merged = 0
        action_state = state.setdefault("action", {})
        while self._in_flight and self._in_flight[0].future.done():
            flight = self._in_flight.popleft()
            obj = flight.obj
            error = flight.future.exception()
            if error is None:
                for name in sorted(flight.counters):
                    ctx.count(name, flight.counters[name])
                merge_state(action_state, flight.state)
                self.actions.done(obj, ctx)
            elif isinstance(error, Exception):
                self.actions.failed(obj, error, state, ctx)
            else:
                raise error  # a BaseException (an exit in the action): as if inline; the relay
                # counts it as a failed attempt, whatever on_error says
            state["start_after"] = obj.key
            self._done += 1
            merged += 1
        return merged
