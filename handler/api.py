"""baton's public task API: everything a task needs, baton's own tasks included.

A task is a loop broken into small steps. baton runs `step` until the hop's time is nearly up,
commits the state and counters together (conditional writes fenced by epoch and lease owner),
and hands the job to the next invocation, which loads the state and steps on.

    from pydantic import Field

    from baton.handler.api import StepContext, Task, TaskParams, register_task

    @register_task
    class Countdown(Task):
        name = "countdown"
        progress_counter = "ticks"

        class Params(TaskParams):
            n: int = Field(10, ge=0, le=10**9, description="Ticks to count down")

        def start(self):
            return {"left": self.params["n"]}

        def step(self, state, ctx):
            state["left"] -= 1
            ctx.count("ticks")
            return state["left"] <= 0

The rules a task keeps (baton enforces what it can and fails the job clearly otherwise):

- `Params` (a `TaskParams` model) declares the parameters once: their types, defaults and limits
  (pydantic `Field`), the messages a bad value gets, and the flags and help of
  `baton start countdown --help`. Cross-field rules are `model_validator(mode="after")` methods
  raising `ValueError`. The model runs in `baton start` and again in the worker's first hop, and
  the job stores `Params(...).stored()`. (A task may instead override `validate`, pure, raising
  `InvalidJob`; `whole_number`, `known_params` and `only` remain for such tasks.)
- The state is JSON (dicts, lists, str, int, float, bool, None) and small: a cursor and
  aggregates, not results (StateNotJson / StateTooLarge fail the job, keeping the last commit).
- A step is short (well under the hop's `work_window_ms`) and resumable: work since the last
  commit is done again after a crash, so side effects must be idempotent (at-least-once), while
  state and counters are exactly-once (they are committed together).
- `JobFailure` ends the job FAILED at once (no retry can fix it); any other exception is a
  failed attempt, retried from the last commit up to the job's max_attempts.
- The module that calls `register_task` must be listed in BATON_TASK_MODULES (worker and CLI).

baton's own tasks (`handler/tasks/builtin/`) import nothing else of baton's (`make lint` checks
it), so this module is shown to suffice. Besides the task interface it exports the kit those
tasks are built from, for tasks of the same kind: S3 listing one page ahead and the hop's work
pool, ranged and gzip reads cut into records, S3 Inventory reports, the per-object action with
its counters, the `on_error` rule for failed items, and child jobs (`Shards`).
"""

from __future__ import annotations

from baton.handler.actions import (
    BUILTIN_ACTIONS,
    ActionContext,
    ActionFunction,
    ObjectAction,
    ObjectRef,
    action_class,
    resolve_action,
    resolve_function,
    validate_action,
    validate_function_name,
)
from baton.handler.actions.merge import merge_state
from baton.handler.actions.params import bucket_name, known_params, only, whole_number
from baton.handler.parameters import (
    BucketName,
    JsonObject,
    KeyText,
    TaskParams,
    action_modules,
    flag_of,
    is_bucket_name,
    parse_params,
)
from baton.handler.tasks.framework.base import JobFailure, Resources, StepContext, Task
from baton.handler.tasks.framework.registry import register_task
from baton.handler.tasks.framework.work_pool import MAX_WORKERS, WorkPool
from baton.handler.tasks.kit.byte_ranges import (
    ChunkSource,
    GzipObject,
    RangedObject,
    RecordSplitter,
)
from baton.handler.tasks.kit.inventory_files import (
    Manifest,
    RowReader,
    open_rows,
    parse_s3_uri,
    read_manifest,
)
from baton.handler.tasks.kit.item_errors import ItemErrors, OnErrorParams
from baton.handler.tasks.kit.key_order import key_before
from baton.handler.tasks.kit.listing import KeyRange, Lister, Page
from baton.handler.tasks.kit.object_actions import (
    ActionParams,
    BoundContext,
    ObjectActionParams,
    ObjectActions,
)
from baton.handler.tasks.kit.shards import (
    MAX_SHARDS,
    SHARD_PARAMS,
    ShardParams,
    Shards,
    plan_shards,
    shards_report,
    shards_summary,
)
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus

# A task's parameter error, under the name a task author looks for; the same class as InvalidJob.
InvalidParams = InvalidJob

__all__ = [
    "BUILTIN_ACTIONS",
    "MAX_SHARDS",
    "MAX_WORKERS",
    "SHARD_PARAMS",
    "ActionContext",
    "ActionFunction",
    "ActionParams",
    "BoundContext",
    "BucketName",
    "ChunkSource",
    "GzipObject",
    "InvalidJob",
    "InvalidParams",
    "ItemErrors",
    "JobFailure",
    "JobStatus",
    "JsonObject",
    "KeyRange",
    "KeyText",
    "Lister",
    "Manifest",
    "ObjectAction",
    "ObjectActionParams",
    "ObjectActions",
    "ObjectRef",
    "OnErrorParams",
    "Page",
    "RangedObject",
    "RecordSplitter",
    "Resources",
    "RowReader",
    "ShardParams",
    "Shards",
    "StepContext",
    "Task",
    "TaskParams",
    "WorkPool",
    "action_class",
    "action_modules",
    "bucket_name",
    "flag_of",
    "is_bucket_name",
    "key_before",
    "known_params",
    "merge_state",
    "only",
    "open_rows",
    "parse_params",
    "parse_s3_uri",
    "plan_shards",
    "read_manifest",
    "register_task",
    "resolve_action",
    "resolve_function",
    "shards_report",
    "shards_summary",
    "validate_action",
    "validate_function_name",
    "whole_number",
]
