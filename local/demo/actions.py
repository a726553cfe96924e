"""Actions the local stack allows (BATON_ACTION_MODULES=baton.local.demo.actions) for the demo.

`checksum` reads every object back and hashes it: real S3 work per object, so a walk takes long
enough for a short function timeout to make the chain hop.
"""

from __future__ import annotations

import hashlib

from baton.handler.actions import ActionContext, ObjectRef


def checksum(obj: ObjectRef, ctx: ActionContext) -> None:
    """GET the object, check its length against the listing, and hash it (idempotent)."""
    body = ctx.s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    if len(body) != obj.size:
        raise ValueError(f"{obj.key}: read {len(body)} bytes, the listing says {obj.size}")
    hashlib.sha256(body).digest()
    ctx.count("checked", 1)
