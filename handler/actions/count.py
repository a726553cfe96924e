"""`count`: the walk's own `objects` and `bytes` counters are the whole result."""

from __future__ import annotations

from baton.handler.actions.action import ActionContext, ObjectAction, ObjectRef


class CountAction(ObjectAction):
    name = "count"
    # Nothing to wait for; allowed in flight (it keeps no state) but never faster for it.
    max_concurrency = 64
    # Nothing per object: the walk counts a listed page in one step (a few additions per object).
    per_object = False
    inert = True

    def process(self, obj: ObjectRef, ctx: ActionContext) -> None:
        return None
