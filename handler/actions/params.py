"""Small validators for task and action parameters, each failing with the parameter's name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from baton.store.errors import InvalidJob

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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


def known_params(params: Mapping[str, Any], allowed: tuple[str, ...], task: str) -> None:
    """Refuse a parameter the task does not take, naming the ones it does."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidJob(
            f"{task} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}"
        )


def bucket_name(params: Mapping[str, Any], task: str) -> str:
    """`params["bucket"]`, checked to be an S3 bucket name."""
    bucket = params.get("bucket")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket):
        raise InvalidJob(f"{task} needs bucket: an S3 bucket name, got {bucket!r}")
    return bucket
