"""Small validators for action parameters, each failing with the parameter's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.errors import InvalidJob


def whole_number(
    params: Mapping[str, Any], name: str, default: int, low: int, high: int, where: str
) -> int:
    """`params[name]` (or the default) as an int in [low, high]; `where` prefixes the message,
    e.g. "s3-fanout " or "inventory action_params."."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidJob(
            f"{where}{name} must be a whole number from {low} to {high}, got {value!r}"
        )
    return value


def only(params: Mapping[str, Any], allowed: tuple[str, ...], action: str) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no parameters"
        raise InvalidJob(
            f"{action} action_params does not take {', '.join(unknown)}; it takes {takes}"
        )
