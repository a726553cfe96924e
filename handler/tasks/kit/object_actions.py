"""The per-object action of the object walks (`s3-walk`, `s3-manifest`), in one place.

Both walks take the same `action`, `action_params`, `on_error`, `max_failed` and
`expected_objects`, count `objects` and `bytes` for each object the action finished, keep the
last failures under `on_error: skip`, and end with the action's summary and report followed by
the failed objects. `BoundContext` is also what `s3-lines` hands its record function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import Field, ValidationInfo, model_validator

from baton.handler.actions import ActionContext, ObjectRef, resolve_action, validate_action
from baton.handler.actions.merge import merge_state
from baton.handler.parameters import JsonObject, action_modules
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.kit.item_errors import MAX_COUNT, ItemErrors, OnErrorParams


class ActionParams(OnErrorParams):
    """The per-object action, its parameters (checked by the action's own model), and
    `on_error` / `max_failed`."""

    action: str = Field(
        "count",
        description="Per-object action: count, inventory, duplicates, or module:function "
        "from a module BATON_ACTION_MODULES lists",
    )
    action_params: JsonObject | None = Field(None, description="JSON object passed to the action")

    @model_validator(mode="after")
    def _action_allowed(self, info: ValidationInfo) -> Self:
        normalised = validate_action(self.action, self.action_params or {}, action_modules(info))
        self.action_params = normalised or None
        return self


class ObjectActionParams(ActionParams):
    """What both object walks take about the action (`s3-walk`, `s3-manifest`)."""

    expected_objects: int | None = Field(
        None, ge=0, le=MAX_COUNT, description="How many objects to expect, for progress and ETA"
    )


class BoundContext:
    """The ActionContext a hop's inline steps share, bound to the job's `state["action"]`.

    Built once, and again only when the relay hands the task another state dict (a reload
    after a failed attempt), so an action's per-object cost is not a context per object.
    """

    def __init__(self, resources: Resources, action_params: Mapping[str, Any]) -> None:
        self._s3 = resources.s3
        self._params = action_params
        self._actx: ActionContext | None = None

    @property
    def s3(self) -> Any:
        return self._s3

    def of(self, state: dict[str, Any], ctx: StepContext) -> ActionContext:
        action_state = state.setdefault("action", {})
        actx = self._actx
        if actx is None or actx.state is not action_state:
            actx = self._actx = ActionContext(
                s3=self._s3,
                params=self._params,
                count=ctx.count,
                logger=ctx.logger,
                state=action_state,
            )
        return actx


class ObjectActions:
    """Runs the job's action on objects and applies `on_error` to the ones it fails on."""

    def __init__(self, params: Mapping[str, Any], resources: Resources) -> None:
        self.name: str = params.get("action", "count")
        self.action_params: Mapping[str, Any] = params.get("action_params", {})
        self.action = resolve_action(self.name, self.action_params, resources.action_modules)
        self.errors = ItemErrors(params, noun="object")
        self.context = BoundContext(resources, self.action_params)

    def apply(self, obj: ObjectRef, state: dict[str, Any], ctx: StepContext) -> None:
        """Run the action on one object inline, counting it or applying `on_error`.

        An action that may also run on a pool (`max_concurrency` above 1) gets what it gets
        there: its own counters and an empty `ctx.state` for this object, merged into the job's
        only if it finished. So an object that raised contributes nothing, at every concurrency.
        The aggregates that only ever run one object at a time work on the job's state itself.
        An inert action (count) is not called: the object is counted as done.
        """
        if self.action.inert:
            state.setdefault("action", {})  # as the action's own run leaves it
            self.done(obj, ctx)
            return
        if self.action.max_concurrency > 1:
            self._apply_apart(obj, state, ctx)
            return
        actx = self.context.of(state, ctx)
        try:
            self.action.process(obj, actx)
        except Exception as exc:
            self.failed(obj, exc, state, ctx)
            return
        self.done(obj, ctx)

    def _apply_apart(self, obj: ObjectRef, state: dict[str, Any], ctx: StepContext) -> None:
        counters: dict[str, int] = {}
        own: dict[str, Any] = {}

        def count(name: str, n: int = 1) -> None:
            counters[name] = counters.get(name, 0) + int(n)

        actx = ActionContext(
            s3=self.context.s3, params=self.action_params, count=count, logger=ctx.logger, state=own
        )
        try:
            self.action.process(obj, actx)
        except Exception as exc:
            self.failed(obj, exc, state, ctx)
            return
        for name in sorted(counters):
            ctx.count(name, counters[name])
        merge_state(state.setdefault("action", {}), own)
        self.done(obj, ctx)

    @staticmethod
    def done(obj: ObjectRef, ctx: StepContext) -> None:
        ctx.count("objects")
        ctx.count("bytes", obj.size)

    def failed(
        self, obj: ObjectRef, exc: Exception, state: dict[str, Any], ctx: StepContext
    ) -> None:
        """on_error: fail raises (nothing of this step is committed); skip counts and moves on."""
        where = f"action {self.name} failed on s3://{obj.bucket}/{obj.key}"
        self.errors.failed(state, ctx, where, {"key": obj.key}, exc)

    def summary(self, state: dict[str, Any]) -> dict[str, Any]:
        """The action's summary, and the last failed objects."""
        result = dict(self.action.summary(state.get("action", {})))
        if state.get("failures"):
            result["last_failures"] = state["failures"][-5:]
        return result

    def report(self, state: dict[str, Any]) -> Iterable[dict[str, Any]]:
        yield from self.action.report(state.get("action", {}))
        for failure in state.get("failures", []):
            yield {"type": "failed_object", **failure}
