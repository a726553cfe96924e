"""Per-object actions the twin's scenarios run (BATON_ACTION_MODULES=benchmarks.twin.actions)."""

from __future__ import annotations

from baton.handler.actions import ActionContext, ObjectRef


def count_by_tenant(obj: ObjectRef, ctx: ActionContext) -> None:
    """Count objects per tenant, the tenant being the key's last path part without its
    extension: one counter name per tenant, as a user's per-tenant report would keep them."""
    tenant = obj.key.rsplit("/", 1)[-1].split(".", 1)[0]
    ctx.count("tenant:" + tenant, 1)
