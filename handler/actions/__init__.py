"""Per-object actions for the s3-walk task: built-ins and allow-listed custom functions."""

from baton.handler.actions.action import ActionContext, ActionFunction, ObjectAction, ObjectRef
from baton.handler.actions.resolve import (
    BUILTIN_ACTIONS,
    action_class,
    resolve_action,
    resolve_function,
    validate_action,
    validate_function_name,
)

__all__ = [
    "BUILTIN_ACTIONS",
    "ActionContext",
    "ActionFunction",
    "ObjectAction",
    "ObjectRef",
    "action_class",
    "resolve_action",
    "resolve_function",
    "validate_action",
    "validate_function_name",
]
