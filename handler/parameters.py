"""A task's parameters, declared once as a pydantic model.

The model is the one place that says what a job of the task may be given: each parameter's
type, default and limits, the message a bad value gets, and the flag and help `baton start TASK`
shows (`description` is the help; `json_schema_extra={"flag": "boundary"}` renames a flag). The
worker and the CLI validate through the same model, so a value `baton start` accepts is one the
worker accepts, and what the job item stores (`TaskParams.stored`) is the normalised model.

Cross-field rules live in the model as `model_validator(mode="after")` methods that raise
`ValueError("...")`: the message is prefixed with the task's name. Rules that need the
deployment (which action modules are allowed) read it from the validation context
(`info.context["action_modules"]`).
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

from baton.store.errors import InvalidJob

MAX_KEY_BYTES = 1_024  # S3's longest object key, hence the longest prefix or boundary
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SHOWN = 80  # characters of a refused value a message repeats
# What a value of the wrong JSON type must be, by pydantic's error type.
_KINDS = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list",
    "float_type": "must be a number",
    "finite_number": "must be a finite number (not NaN or Infinity)",
}

P = TypeVar("P", bound="TaskParams")


class TaskParams(BaseModel):
    """Base of every task's parameter model: unknown names refused, no coercion (a JSON "8" is
    not the number 8, true is not 1), no NaN or Infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    def stored(self) -> dict[str, Any]:
        """The parameters as the job item keeps them: options left unset are left out."""
        return self.model_dump(exclude_none=True)


def action_modules(info: ValidationInfo) -> tuple[str, ...]:
    """The allow-list of action modules the validation runs under (empty when not given)."""
    context = info.context if isinstance(info.context, dict) else {}
    return tuple(context.get("action_modules", ()))


def _max_bytes(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value.encode()) > limit:
            raise ValueError(f"must be a string of at most {limit:,} bytes")
        return value

    return check


def is_bucket_name(value: str) -> bool:
    """An S3 bucket name as S3 takes it (lower case letters, digits, dots and hyphens)."""
    return _BUCKET.match(value) is not None


def _bucket(value: str) -> str:
    if not is_bucket_name(value):
        raise ValueError("must be an S3 bucket name (3-63 characters: a-z 0-9 . -)")
    return value


def _finite(value: Any) -> Any:
    """Refuse NaN and Infinity anywhere inside a JSON value: DynamoDB cannot store them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be JSON without NaN or Infinity")
    if isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    return value


# Reusable parameter types.
KeyText = Annotated[str, AfterValidator(_max_bytes(MAX_KEY_BYTES))]
BucketName = Annotated[str, AfterValidator(_bucket)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite)]


def parse_params(
    model: type[P],
    params: Mapping[str, Any],
    where: str,
    action_modules: tuple[str, ...] = (),
) -> P:
    """`params` validated by `model`; InvalidJob naming `where` (the task) and the parameter."""
    if not isinstance(params, Mapping):
        raise InvalidJob(f"{where} parameters must be a JSON object, got {type(params).__name__}")
    try:
        return model.model_validate(dict(params), context={"action_modules": action_modules})
    except ValidationError as exc:
        raise InvalidJob(describe(exc, model, where)) from None


def describe(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """One message for a person: every unknown name at once, else the first problem."""
    errors = exc.errors(include_url=False)
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"]]
    if unknown:
        takes = ", ".join(sorted(model.model_fields)) or "no parameters"
        return f"{where} does not take {', '.join(sorted(unknown))}; it takes {takes}"
    return _one(errors[0], model, where)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _one(error: Any, model: type[BaseModel], where: str) -> str:
    loc = error["loc"]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if not loc:  # a model validator's ValueError: the message names what it is about
        return f"{where} {ctx.get('error', error['msg'])}"
    name = str(loc[0])
    field = model.model_fields.get(name)
    label = name + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))
    got = f", got {_shown(error.get('input'))}"
    if kind == "missing":
        help_text = field.description if field is not None and field.description else ""
        return f"{where} needs {name}" + (f" ({help_text})" if help_text else "")
    if field is not None and _is_int(field.annotation) and len(loc) == 1:
        low, high = _bounds(field.metadata)
        return f"{where} {label} must be a whole number from {low:,} to {high:,}{got}"
    if kind == "literal_error":
        return f"{where} {label} must be one of {', '.join(_choices(field))}{got}"
    if kind == "value_error":
        return f"{where} {label} {ctx.get('error', error['msg'])}{got}"
    if kind in _KINDS:
        return f"{where} {label} {_KINDS[kind]}{got}"
    return f"{where} {label}: {error['msg'][0].lower()}{error['msg'][1:]}{got}"


def _is_int(annotation: Any) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation is int or args == [int]


def _bounds(metadata: list[Any]) -> tuple[int, int]:
    low, high = -(2**63), 2**63
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = int(item.ge)  # type: ignore[call-overload]
        elif isinstance(item, annotated_types.Le):
            high = int(item.le)  # type: ignore[call-overload]
    return low, high


def _choices(field: Any) -> list[str]:
    """The values a Literal field allows, in declaration order."""
    annotation = field.annotation if field is not None else None
    for arm in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arm) is Literal:
            return [str(v) for v in typing.get_args(arm)]
    return []


def flag_of(model: type[BaseModel], name: str) -> str:
    """The CLI flag of a parameter: `--max-failed` for max_failed, unless the model renames it."""
    extra = model.model_fields[name].json_schema_extra
    flag = extra.get("flag") if isinstance(extra, dict) else None
    return "--" + str(flag or name).replace("_", "-")
