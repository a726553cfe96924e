"""Actions the benchmark's jobs may use (BATON_ACTION_MODULES=benchmarks.actions)."""

from __future__ import annotations

import time

from baton.handler.actions import ActionContext, ObjectRef


def sleep(obj: ObjectRef, ctx: ActionContext) -> None:
    """Spend `sleep_ms` per object: a walk that lasts long enough to hop many times."""
    time.sleep(float(ctx.params.get("sleep_ms", 0)) / 1000)


def tag(obj: ObjectRef, ctx: ActionContext) -> None:
    """One S3 request per object (PutObjectTagging): an I/O-bound action, like copy or tag."""
    ctx.s3.put_object_tagging(
        Bucket=obj.bucket,
        Key=obj.key,
        Tagging={"TagSet": [{"Key": "walked", "Value": "baton"}]},
    )


def head(obj: ObjectRef, ctx: ActionContext) -> None:
    """One HeadObject per object, checked against the listing: I/O-bound, like a tag or copy."""
    size = ctx.s3.head_object(Bucket=obj.bucket, Key=obj.key)["ContentLength"]
    if size != obj.size:
        raise ValueError(f"{obj.key}: HeadObject says {size} bytes, the listing {obj.size}")
