"""Per-object actions for the s3-walk task: built-ins and allow-listed custom functions."""

from handler.actions.base import Action, ActionContext, ObjectRef
from handler.actions.resolve import BUILTIN_ACTIONS, resolve_action, validate_action_name

__all__ = [
    "BUILTIN_ACTIONS",
    "Action",
    "ActionContext",
    "ObjectRef",
    "resolve_action",
    "validate_action_name",
]
