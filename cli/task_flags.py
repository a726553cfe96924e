"""`baton start TASK`'s flags and help, made from the task's parameter model.

Every field of the task's `Params` model (baton.handler.parameters) becomes a flag: its type
picks the click type (a list is a repeated flag, a JSON object a JSON text, a Literal a choice),
its `description` is the help, its default is shown. Nothing is checked here that the model
checks: the flags only carry values to the model, which gives the same messages the worker
would. What the CLI adds is what only the CLI can know: a flag and `--params` naming the same
parameter with different values, JSON text that is not a JSON object (or holds NaN/Infinity).
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import click
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from baton.handler.parameters import flag_of
from baton.store.errors import InvalidJob

# Flags every task's command has; a parameter of the same name is reachable through --params.
COMMON_FLAGS = {"--params", "--job-id", "--max-hops", "--max-attempts", "--json", "--help"}


class FiniteFloat(click.ParamType[float]):
    """A float flag that refuses NaN and Infinity where they are typed."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


@dataclass(frozen=True)
class TaskFlag:
    """One parameter of the model as a flag."""

    name: str  # the parameter
    flag: str  # --the-flag
    json_text: bool  # the flag takes a JSON object as text


def _bare(annotation: Any) -> Any:
    """The annotation without `| None` (and without Annotated's metadata)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(arms) == 1:
            return _bare(arms[0])
    return annotation


def _click_type(annotation: Any) -> tuple[Any, bool, bool]:
    """(click type, multiple, json text) for a field's annotation."""
    bare = _bare(annotation)
    origin = typing.get_origin(bare)
    if origin is Literal:
        return click.Choice([str(v) for v in typing.get_args(bare)]), False, False
    if origin is list:
        return _click_type(typing.get_args(bare)[0])[0], True, False
    if bare is dict or origin is dict:
        return click.STRING, False, True
    if bare is bool:
        return click.BOOL, False, False
    if bare is int:
        return click.INT, False, False
    if bare is float:
        return FiniteFloat(), False, False
    return click.STRING, False, False


def _help(field: Any, json_text: bool) -> str:
    text = field.description or ""
    if json_text:
        text += " (a JSON object)"
    if field.is_required():
        return f"{text} [required]".strip()
    if field.default not in (None, PydanticUndefined):
        default = field.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        return f"{text} [default: {default}]".strip()
    return text


def _in_help_order(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """Required parameters first, then the task's own, then those it inherits (the action's,
    the shards')."""
    order: list[str] = []
    for klass in model.__mro__:
        for name in getattr(klass, "__annotations__", {}):
            if name in model.model_fields and name not in order:
                order.append(name)
    order += [n for n in model.model_fields if n not in order]
    fields = [(n, model.model_fields[n]) for n in order]
    return sorted(fields, key=lambda item: not item[1].is_required())


def task_flags(model: type[BaseModel] | None) -> tuple[list[click.Option], list[TaskFlag]]:
    """The click options for the model's fields, required ones first."""
    if model is None:
        return [], []
    options: list[click.Option] = []
    flags: list[TaskFlag] = []
    for name, field in _in_help_order(model):
        flag = flag_of(model, name)
        if flag in COMMON_FLAGS:
            continue
        kind, multiple, json_text = _click_type(field.annotation)
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is click.BOOL else [flag]
        options.append(
            click.Option(
                [*decls, name],
                type=None if kind is click.BOOL else kind,
                multiple=multiple,
                default=None,
                help=_help(field, json_text),
            )
        )
        flags.append(TaskFlag(name, flag, json_text))
    return options, flags


def json_object(flag: str, text: str) -> dict[str, Any]:
    """A flag's JSON object; InvalidJob (exit 2) naming the flag for anything else."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value (JSON has no NaN or Infinity)")

    try:
        value = json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        raise InvalidJob(f"{flag} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidJob(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value


def merged_params(
    flags: list[TaskFlag], values: dict[str, Any], params_text: str | None
) -> dict[str, Any]:
    """The task's parameters from its flags and `--params`: a parameter given both ways with
    different values is refused, naming both (neither silently wins)."""
    given: dict[str, Any] = {}
    for f in flags:
        value = values.get(f.name)
        if value is None or value == ():
            continue
        if f.json_text:
            value = json_object(f.flag, value)
        elif isinstance(value, tuple):
            value = list(value)
        given[f.name] = value
    extra = json_object("--params", params_text) if params_text is not None else {}
    by_name = {f.name: f.flag for f in flags}
    for name, value in extra.items():
        if name in given and given[name] != value:
            raise InvalidJob(
                f"{by_name[name]} {_shown(given[name])} conflicts with --params "
                f"{name}={_shown(value)}; give {name} once"
            )
    return {**extra, **given}


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
