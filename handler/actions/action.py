"""What an action is and what it sees: one listed object, its own state, and the hop's counters.

An action processes one object. It must be idempotent: objects after the last checkpoint are
processed again after a crash (at-least-once). Its `state` is part of the job's committed state,
so aggregates it keeps there are exact, like the counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from aws_lambda_powertools import Logger

from baton.handler.parameters import TaskParams, parse_params

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectRef(NamedTuple):
    """An object as ListObjectsV2 described it.

    A NamedTuple: immutable and built in well under a microsecond, which matters when a walk
    makes one per object. The modification time is formatted only when an action asks for it.
    """

    bucket: str
    key: str
    size: int
    etag: str
    storage_class: str
    modified: datetime | None = None

    @property
    def last_modified(self) -> str:
        """ISO 8601, or "" when the listing did not say."""
        return self.modified.isoformat() if self.modified is not None else ""


@dataclass
class ActionContext:
    """The S3 client, the action's parameters and state, and the hop's counters."""

    s3: S3Client
    params: Mapping[str, Any]
    count: Callable[[str, int], None]
    logger: Logger
    state: dict[str, Any]


class ObjectAction:
    """Base of the actions: `process` each object; `summary` and `report` describe the result."""

    name = "action"
    # Objects in flight at once: by default, and at most. An action that only reads the listing
    # and keeps aggregates in `ctx.state` (inventory, duplicates) runs one object at a time:
    # threads would not make it faster, and its aggregates must grow in key order.
    default_concurrency: ClassVar[int] = 1
    max_concurrency: ClassVar[int] = 1
    # The action's `action_params`, declared once (see baton.handler.parameters); None: any.
    Params: ClassVar[type[TaskParams] | None] = None
    # False: `process` does nothing, the walk's own counters are the whole result (count). The
    # walk then takes a whole listed page per step, so its cost per object is a few additions:
    # the step is a listing's length either way, so the hop's budget sees what it saw, and the
    # cursor moves to the page's last key. The virtual-time twin runs the same code.
    per_object: ClassVar[bool] = True
    # True: `process` does nothing and never raises (count). A walk that takes such an action's
    # objects one by one inline counts each as done without calling it or building its context;
    # at a concurrency above 1 each object still goes through the pool (a call and a context).
    inert: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    @classmethod
    def validate(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise `action_params` at job creation."""
        if cls.Params is None:
            return dict(params)
        return parse_params(cls.Params, params, f"{cls.name} action_params").stored()

    def process(self, obj: ObjectRef, ctx: ActionContext) -> None:
        raise NotImplementedError

    def summary(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A few KB at most, kept on the job item for `baton status`."""
        return {}

    def report(self, state: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        """The full result, one JSON object per line of the job's report."""
        return ()


# A custom action is a plain function of (object, context).
ActionFunction = Callable[[ObjectRef, ActionContext], None]


class FunctionAction(ObjectAction):
    """Wraps a `module:function` custom action: most call S3, so several run at once."""

    default_concurrency = 8
    max_concurrency = 64

    def __init__(self, name: str, function: ActionFunction, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.name = name
        self.function = function

    def process(self, obj: ObjectRef, ctx: ActionContext) -> None:
        self.function(obj, ctx)
