"""Turn an action name into an action, importing only modules the deployment allows."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from baton.handler.actions.action import ActionFunction, FunctionAction, ObjectAction
from baton.handler.actions.count import CountAction
from baton.handler.actions.duplicates import DuplicatesAction
from baton.handler.actions.inventory import InventoryAction
from baton.store.errors import InvalidJob

BUILTIN_ACTIONS: dict[str, type[ObjectAction]] = {
    action.name: action for action in (CountAction, InventoryAction, DuplicatesAction)
}
_CUSTOM = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)$"
)


def validate_action(
    name: str, params: Mapping[str, Any], allowed_modules: tuple[str, ...]
) -> dict[str, Any]:
    """Check the name (without importing anything) and normalise the action's parameters."""
    if name in BUILTIN_ACTIONS:
        return BUILTIN_ACTIONS[name].validate(params)
    if _CUSTOM.match(name) is None:
        raise InvalidJob(
            f"unknown action {name!r}: use one of {', '.join(sorted(BUILTIN_ACTIONS))} "
            f"or module:function"
        )
    validate_function_name(name, allowed_modules)
    return dict(params)


def action_class(name: str) -> type[ObjectAction]:
    """The class a (validated) action name resolves to, without importing a custom module."""
    return BUILTIN_ACTIONS.get(name, FunctionAction)


def resolve_action(
    name: str, params: Mapping[str, Any], allowed_modules: tuple[str, ...]
) -> ObjectAction:
    validate_action(name, params, allowed_modules)
    if name in BUILTIN_ACTIONS:
        return BUILTIN_ACTIONS[name](params)
    custom: ActionFunction = resolve_function(name, allowed_modules)
    return FunctionAction(name, custom, params)


def validate_function_name(name: str, allowed_modules: tuple[str, ...]) -> None:
    """Check a `module:function` name against the allow-list, importing nothing."""
    match = _CUSTOM.match(name)
    if match is None:
        raise InvalidJob(f"{name!r} is not a module:function name")
    if match.group(1) not in allowed_modules:
        allowed = ", ".join(allowed_modules) or "none"
        raise InvalidJob(
            f"action module {match.group(1)!r} is not allowed; BATON_ACTION_MODULES lists: "
            f"{allowed}"
        )


def resolve_function(name: str, allowed_modules: tuple[str, ...]) -> Callable[..., Any]:
    """The function a `module:function` name names, from an allowed module only.

    For tasks whose per-item actions are not S3 objects (dynamodb-scan, a user's task): they
    call the function with whatever item and context they define.
    """
    validate_function_name(name, allowed_modules)
    module_name, function_name = name.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidJob(f"action module {module_name!r} cannot be imported: {exc}") from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InvalidJob(f"{module_name!r} has no function {function_name!r}")
    return function  # type: ignore[no-any-return]
