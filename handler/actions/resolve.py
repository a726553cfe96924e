"""Turn an action name into a function, importing only modules the deployment allows."""

from __future__ import annotations

import importlib
import re

from handler.actions import builtin
from handler.actions.base import Action
from store.errors import InvalidJob

BUILTIN_ACTIONS: dict[str, Action] = {"count": builtin.count}
_CUSTOM = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)$"
)


def validate_action_name(name: str, allowed_modules: tuple[str, ...]) -> str:
    """Check the name without importing anything; returns it unchanged."""
    if name in BUILTIN_ACTIONS:
        return name
    match = _CUSTOM.match(name)
    if match is None:
        raise InvalidJob(
            f"unknown action {name!r}: use one of {', '.join(sorted(BUILTIN_ACTIONS))} "
            f"or module:function"
        )
    module = match.group(1)
    if module not in allowed_modules:
        allowed = ", ".join(allowed_modules) or "none"
        raise InvalidJob(
            f"action module {module!r} is not allowed; BATON_ACTION_MODULES lists: {allowed}"
        )
    return name


def resolve_action(name: str, allowed_modules: tuple[str, ...]) -> Action:
    validate_action_name(name, allowed_modules)
    if name in BUILTIN_ACTIONS:
        return BUILTIN_ACTIONS[name]
    module_name, function_name = name.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidJob(f"action module {module_name!r} cannot be imported: {exc}") from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InvalidJob(f"{module_name!r} has no function {function_name!r}")
    action: Action = function
    return action
