"""baton's public task API: everything a task needs, baton's own tasks included.

A task is a loop broken into small steps: `validate` (pure, at job creation), `start` (the first
state, JSON) and `step` (one small unit of work; True when done). baton commits state and
counters together at checkpoints and hand-offs, so counters are exact and items after the last
commit run again after a crash (at-least-once). `JobFailure` fails the job at once; any other
exception is a failed attempt, retried from the last commit.

Baton's own input tasks (`s3-manifest`, `s3-lines`) import only this module.
"""

from __future__ import annotations

from handler.actions import (
    BUILTIN_ACTIONS,
    ActionContext,
    ActionFunction,
    ObjectAction,
    ObjectRef,
    resolve_action,
    resolve_function,
    validate_action,
    validate_function_name,
)
from handler.actions.params import only, whole_number
from handler.tasks.base import JobFailure, Resources, StepContext, Task
from store.errors import InvalidJob

__all__ = [
    "BUILTIN_ACTIONS",
    "ActionContext",
    "ActionFunction",
    "InvalidJob",
    "JobFailure",
    "ObjectAction",
    "ObjectRef",
    "Resources",
    "StepContext",
    "Task",
    "only",
    "resolve_action",
    "resolve_function",
    "validate_action",
    "validate_function_name",
    "whole_number",
]
