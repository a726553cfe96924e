"""What an action sees: one listed object and a small context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class ObjectRef:
    """An object as ListObjectsV2 described it."""

    bucket: str
    key: str
    size: int
    etag: str
    storage_class: str
    last_modified: str


@dataclass
class ActionContext:
    """The S3 client, the job's action parameters and the counters of the hop."""

    s3: S3Client
    params: Mapping[str, Any]
    count: Callable[[str, int], None]
    logger: Logger


# An action processes one object. It must be idempotent: after a crash, objects after the last
# checkpoint are processed again (at-least-once).
Action = Callable[[ObjectRef, ActionContext], None]
