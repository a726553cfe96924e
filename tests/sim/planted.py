"""Deliberately planted bugs: the simulator must catch each one with a short schedule.

Each bug rewrites the condition of one kind of conditional write on its way to DynamoDB (a
botocore `before-parameter-build` hook on the simulator's client), the kind of slip a
refactoring makes. Working on the request rather than on a copy of the store code keeps the bugs
faithful to whatever `store/protocol.py` becomes.

- commit-without-lease: the holder's writes (checkpoint, hand-off, finish, release) are fenced
  by `epoch = e` alone, without `lease_owner = me`.
- claim-ignores-lease: a claim checks epoch, status and hops, but not whether a live
  invocation holds the lease.
- misread-refusal (`STORE_BUGS`, a store class for `Config.store_cls`): the holder's commit reads
  every refusal as a lost lease and deletes the state object it wrote.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from store.codec import StateRef
from store.errors import LeaseLost
from store.protocol import JobStore, _NoState
from store.records import Claim, Job
from store.writes import CONDITION_FAILED, error_code

BUGS = ("commit-without-lease", "claim-ignores-lease")
ACTIVE_BUG: str | None = None

_LEASE_CLAUSE = re.compile(r"\(\(attribute_not_exists \((#\d+)\) OR \1 = :\d+\) OR #\d+ < :\d+\)")
# The holder's fence: ((epoch = e AND lease_owner = me) AND last_write IN (...)).
_HOLDER = re.compile(r"^\(\((#\d+) = (:\d+) AND (#\d+) = (:\d+)\) AND #\d+ IN \([^)]*\)\)$")


@contextlib.contextmanager
def planted(bug: str | None) -> Iterator[None]:
    global ACTIVE_BUG  # noqa: PLW0603 - one schedule runs at a time per process
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS)}")
    ACTIVE_BUG = bug
    try:
        yield
    finally:
        ACTIVE_BUG = None


def rewrite(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore hook: apply the active bug to an UpdateItem's condition."""
    if ACTIVE_BUG is None or model.name != "UpdateItem":
        return
    condition = params.get("ConditionExpression")
    names = params.get("ExpressionAttributeNames", {})
    if not condition:
        return
    if ACTIVE_BUG == "commit-without-lease":
        match = _HOLDER.match(condition)
        if match and names.get(match[1]) == "epoch" and names.get(match[3]) == "lease_owner":
            params["ConditionExpression"] = f"{match[1]} = {match[2]}"
    elif ACTIVE_BUG == "claim-ignores-lease":
        match = _LEASE_CLAUSE.search(condition)
        if match and names.get(match[1]) == "lease_owner":
            epoch = next((k for k, v in names.items() if v == "epoch"), None)
            if epoch is not None:
                params["ConditionExpression"] = _LEASE_CLAUSE.sub(
                    f"attribute_exists ({epoch})", condition
                )
    _drop_unused(params)


def _drop_unused(params: dict[str, Any]) -> None:
    """DynamoDB rejects placeholders no expression uses: drop the ones the rewrite orphaned."""
    text = " ".join(str(params.get(k, "")) for k in ("ConditionExpression", "UpdateExpression"))
    used = set(re.findall(r"[#:]\d+", text))
    for key in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        if key in params:
            params[key] = {k: v for k, v in params[key].items() if k in used}


class MisreadRefusalStore(JobStore):
    """Planted bug "misread-refusal": the holder's commit as it was before store/writes.py.

    A refused write is read as "someone else took the lease": the state object just written is
    deleted and `LeaseLost` raised. Under botocore's own retries the refusal is often the write's
    own earlier attempt, which landed and whose answer was lost: the item then points at the
    deleted object (a hand-off, a finish, a fail with progress) and the cursor is gone. Kept as
    the store's logic rather than a request rewrite, because the bug is in how the answer is read.
    """

    def _commit(
        self,
        op: str,
        claim: Claim,
        actions: Sequence[Action],
        written: StateRef | _NoState | None,
    ) -> Job:
        m = self.model
        lease = claim.lease
        condition = (m.epoch == lease.epoch) & (m.lease_owner == lease.owner)
        item = m(lease.job_id)
        try:
            item.update(actions=list(actions), condition=condition)
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            if isinstance(written, StateRef):
                self.codec.discard(written)
            raise LeaseLost(f"job {lease.job_id!r}: {op} refused") from None
        self._audit(op, lease.job_id, lease.epoch, lease.owner, self._now())
        if not isinstance(written, _NoState):
            superseded = claim.committed_ref
            claim.committed_ref = written
            if superseded is not None and superseded != written:
                self.codec.discard(superseded)
        return self._to_job(item)


STORE_BUGS: dict[str, type[JobStore]] = {"misread-refusal": MisreadRefusalStore}
