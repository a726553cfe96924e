"""Deliberately planted bugs: the simulator must catch each one with a short schedule.

Each bug rewrites the condition of one kind of conditional write on its way to DynamoDB (a
botocore `before-parameter-build` hook on the simulator's client), the kind of slip a
refactoring makes. Working on the request rather than on a copy of the store code keeps the bugs
faithful to whatever the store's modules become.

- commit-without-lease: the holder's writes (checkpoint, hand-off, finish, release) are fenced
  by `epoch = e` alone, without `lease_owner = me`.
- claim-ignores-lease: a claim checks epoch, status and hops, but not whether a live
  invocation holds the lease.
- misread-refusal (`STORE_BUGS`, a store class for `Config.store_cls` whose claims return a
  planted `LeaseHolder`): the holder's commit reads every refusal as a lost lease and deletes the
  state object it wrote.
- unchained-claim (I5, a store class): the claim without its read of the item and its clause on
  `last_write`, so a copy of it landing late (`Rates.late_copy`) claims again under the same
  holder or after its release: a hop counted twice, the holder's chain of writes broken.

Reverted fixes: five defects found and fixed, each planted back as the logic from before its
fix, kept here and used only by the simulator (`Config(bug=...)`; `planted()` puts them in place
for one schedule):

- slow-step-poisons (I8): the budget without its bounds: the margin is twice the slowest step
  ever carried, uncapped, and the carried step is handed on unchanged at every hop.
- rearm-wipes-intent (I7, a store and a watchdog class): the watchdog restarts a dead holder's
  job as stalled even when an operator's request waits on it, and its re-arm removes the cancel
  and pause flags: a cancel accepted while the holder was alive is lost when the holder dies.
- plan-not-durable (I7, an s3-fanout task): the parent plans in one step and starts shards in
  the next without committing the plan first; a shard exists that the parent's state does not
  name (an orphan) until the next checkpoint, and for ever if the parent dies first.
- cancelled-parent-launches (I7, an s3-fanout task): the parent's shard machinery never reads
  the parent's pending request, so shards the operator's cascade freed are refilled with new
  ones after the cancel was accepted.
- attempts-from-claim (I9, a store class): attempts are counted from the value read at the
  claim, not reset by the hop's own checkpoints: progress, then one failure, fails the job as
  "attempt 3 of 3".

Count bugs (I3, `COUNT_BUGS` in tests/sim/count_walk.py): s3-walk's page step for `count`
counts a page's first object twice, or moves the cursor past its last object uncounted.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator, Sequence
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from baton.handler import relay
from baton.handler.budget import SAFETY_FACTOR, TimeBudget
from baton.handler.children import ChildJobs
from baton.handler.launch import send_event
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.framework.base import ChildLauncher, StepContext
from baton.handler.tasks.framework.registry import TASKS
from baton.handler.tasks.kit.shards import Shards, tally
from baton.handler.watchdog import SweepAction, Watchdog
from baton.store.clock import iso_from_ms
from baton.store.codec import StateRef
from baton.store.errors import ChangedMeanwhile, LeaseLost, WriteUnknown
from baton.store.job_store import JobStore
from baton.store.lease_holder import LeaseHolder, NoState
from baton.store.records import ClaimRejected, Job, JobStatus, Lease, Progress
from baton.store.writes import CONDITION_FAILED, Refused, error_code, new_token
from tests.sim.count_walk import COUNT_BUGS, planted_count

BUGS = ("commit-without-lease", "claim-ignores-lease")
ACTIVE_BUG: str | None = None

# The claim's "lease free or expired": (no lease_owner OR lease_expires_ms < now).
_LEASE_CLAUSE = re.compile(r"\(attribute_not_exists \((#\d+)\) OR #\d+ < :\d+\)")
# The holder's fence: ((epoch = e AND lease_owner = me) AND last_write IN (...)).
_HOLDER = re.compile(r"^\(\((#\d+) = (:\d+) AND (#\d+) = (:\d+)\) AND #\d+ IN \([^)]*\)\)$")


@contextlib.contextmanager
def planted(bug: str | None) -> Iterator[None]:
    """Put `bug` in place for one schedule: a request rewrite, the old budget or a planted
    fan-out task (store bugs come in through `store_class`)."""
    global ACTIVE_BUG  # noqa: PLW0603 - one schedule runs at a time per process
    known = (*BUGS, *STORE_BUGS, *TASK_BUGS, *BUDGET_BUGS, *COUNT_BUGS)
    if bug is not None and bug not in known:
        raise ValueError(f"unknown planted bug {bug!r}; known: {', '.join(known)}")
    ACTIVE_BUG = bug if bug in BUGS else None
    task = TASK_BUGS.get(bug or "")
    budget = BUDGET_BUGS.get(bug or "")
    real_task, real_budget = TASKS[FanOut.name], relay.TimeBudget
    if task is not None:
        TASKS[FanOut.name] = task
    if budget is not None:
        relay.TimeBudget = budget  # type: ignore[misc]
    try:
        with planted_count(bug):
            yield
    finally:
        ACTIVE_BUG = None
        TASKS[FanOut.name] = real_task
        relay.TimeBudget = real_budget  # type: ignore[misc]


def store_class(bug: str | None, default: type[JobStore]) -> type[JobStore]:
    """The store a schedule runs with: a planted store bug's class, else `default`."""
    return STORE_BUGS.get(bug or "", default)


def watchdog_class(bug: str | None) -> type[Watchdog]:
    """The watchdog a schedule runs with: a planted watchdog bug's class, else the real one."""
    return WATCHDOG_BUGS.get(bug or "", Watchdog)


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
    elif ACTIVE_BUG == "claim-ignores-lease" and "ADD" in params.get("UpdateExpression", ""):
        # Only the claim adds (a hop); the unheld writes share the same lease clause.
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


class MisreadRefusalHolder(LeaseHolder):
    """Planted bug "misread-refusal": the holder's commit as it was before store/writes.py.

    A refused write is read as "someone else took the lease": the state object just written is
    deleted and `LeaseLost` raised. Under botocore's own retries the refusal is often the write's
    own earlier attempt, which landed and whose answer was lost: the item then points at the
    deleted object (a hand-off, a finish, a fail with progress) and the cursor is gone. Kept as
    the store's logic rather than a request rewrite, because the bug is in how the answer is read.
    """

    def _commit(  # type: ignore[override]
        self,
        op: str,
        actions: Sequence[Action],
        written: StateRef | NoState | None,
        *,
        lease_expires_ms: int | None = None,
    ) -> Job:
        table = self.table
        m = table.model
        lease = self.lease
        condition = (m.epoch == lease.epoch) & (m.lease_owner == lease.owner)
        item = m(lease.job_id)
        try:
            item.update(actions=list(actions), condition=condition)
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            if isinstance(written, StateRef):
                table.codec.discard(written)
            raise LeaseLost(f"job {lease.job_id!r}: {op} refused") from None
        table.record(op, lease.job_id, lease.epoch, lease.owner, table.now(), lease_expires_ms)
        self._superseded_by(written)
        return table.to_job(item)


class MisreadRefusalStore(JobStore):
    """Planted "misread-refusal": a store whose claims return the holder above."""

    holder_cls = MisreadRefusalHolder


class RearmWipesIntentStore(JobStore):
    """Planted "rearm-wipes-intent": the watchdog's re-arm as it was,
    removing the operator's flags with the dead holder's lease."""

    def rearm_actions(self, job: Job, now: int, restarts: int | None = None) -> list[Action]:
        m = self.model
        return [
            *super().rearm_actions(job, now, restarts),
            *([m.cancel_requested.remove(), m.pause_requested.remove()] if restarts else []),
        ]


class RearmWipesIntentWatchdog(Watchdog):
    """Planted "rearm-wipes-intent", the watchdog's half: a job whose holder died with an
    operator's request on it is restarted like any stalled job, not stopped as asked."""

    def _settle(self, job: Job, requested: JobStatus) -> SweepAction | None:
        try:
            moved = self.store.rearm(job)
        except (ChangedMeanwhile, WriteUnknown):
            return None
        send_event(self.lambda_client, self.function, moved)
        return SweepAction(job.job_id, "rearmed", moved.epoch, "restarted as stalled")


class AttemptsFromClaimHolder(LeaseHolder):
    """Planted "attempts-from-claim": a checkpoint resets `attempts` on the
    item but the hop keeps counting from the value its claim read."""

    def checkpoint(self, progress: Progress) -> Job:
        as_claimed = self.job
        job = super().checkpoint(progress)
        self.job = as_claimed
        return job


class AttemptsFromClaimStore(JobStore):
    """Planted "attempts-from-claim": a store whose claims return the holder above."""

    holder_cls = AttemptsFromClaimHolder


class UnchainedClaimStore(JobStore):
    """Planted "unchained-claim": the claim as it once was, with no read first
    and no clause on the item's last write. Its first attempt, landing late after botocore's
    retry went through, meets `lease_owner = me` (or a released lease) and claims again: a
    second hop counted, and `last_write` taken back so the holder's next commit is refused."""

    def claim(
        self, job_id: str, epoch: int, owner: str, deadline_ms: int
    ) -> LeaseHolder | ClaimRejected:
        now = self.now()
        m = self.model
        token = new_token()
        condition = (
            (m.epoch == epoch)
            & m.status.is_in(JobStatus.QUEUED.value, JobStatus.RUNNING.value)
            & (
                m.lease_owner.does_not_exist()
                | (m.lease_owner == owner)
                | (m.lease_expires_ms < now)
            )
            & (m.hops < m.max_hops)
            & (m.last_write.does_not_exist() | (m.last_write != token))
        )
        expires = deadline_ms + self.skew_ms
        stamp = iso_from_ms(now)
        actions: list[Action] = [
            m.status.set(JobStatus.RUNNING.value),
            m.lease_owner.set(owner),
            m.lease_expires_ms.set(expires),
            m.hops.add(1),
            m.updated_at.set(stamp),
            m.heartbeat_at.set(stamp),
        ]
        outcome = self.writer.update(job_id, actions, condition, token)
        if isinstance(outcome, Refused):
            return self._classify(outcome.item, epoch)
        self.record("claim", job_id, epoch, owner, now, expires)
        job = self.to_job(outcome.item)
        lease = Lease(job_id=job_id, epoch=epoch, owner=owner, expires_ms=expires, started_ms=now)
        return self.holder_cls(self, lease, job, token)


STORE_BUGS: dict[str, type[JobStore]] = {
    "unchained-claim": UnchainedClaimStore,
    "misread-refusal": MisreadRefusalStore,
    "rearm-wipes-intent": RearmWipesIntentStore,
    "attempts-from-claim": AttemptsFromClaimStore,
}


class PoisonedBudget(TimeBudget):
    """Planted "slow-step-poisons": the budget before its bounds. The
    slowest step ever carried counts for good, the margin is uncapped, and the figure is
    handed on unchanged: after one step of half the timeout every later hop does one step."""

    def step_ms(self) -> int:
        return max(self._slowest, self._carried_step)

    def margin_ms(self) -> int:
        measured = SAFETY_FACTOR * (self.step_ms() + self.write_ms() + self._invoke_ms)
        return int(max(self.min_margin_ms, measured))

    def learned(self) -> dict[str, int]:
        return {**super().learned(), "step_ms": self.step_ms()}


class PlanNotDurable(FanOut):
    """Planted "plan-not-durable": the plan is kept in the state and shards
    start at the next step, before any commit; the plan is first durable at a checkpoint."""

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if not state["planned"]:
            self.parent_id = ctx.job_id
            state["shards"] = self.plan()
            state["planned"] = True
            tally(state, ctx)
            return False
        return super().step(state, ctx)


def _deaf(children: ChildLauncher) -> ChildLauncher:
    """A ChildLauncher that never hears the parent's request: its creates are not checked
    against the parent (see CancelledParentLaunches)."""
    assert isinstance(children, ChildJobs)
    deaf = copy.copy(children)
    deaf.parent = None
    return deaf


class CancelledParentLaunches(FanOut):
    """Planted "cancelled-parent-launches": the shard machinery launches
    pending shards without regard to the parent's request; the parent sees a cancel only at its
    next checkpoint, after it refilled the slots the operator's cascade freed."""

    def step(self, state: dict[str, Any], ctx: StepContext) -> bool:
        if not state["planned"]:
            return super().step(state, ctx)
        shards = Shards(self.resources, self.params, self.name)
        shards.children = _deaf(shards.children)
        return shards.advance(state, ctx)


TASK_BUGS: dict[str, type[FanOut]] = {
    "plan-not-durable": PlanNotDurable,
    "cancelled-parent-launches": CancelledParentLaunches,
}
BUDGET_BUGS: dict[str, type[TimeBudget]] = {"slow-step-poisons": PoisonedBudget}
WATCHDOG_BUGS: dict[str, type[Watchdog]] = {"rearm-wipes-intent": RearmWipesIntentWatchdog}
# The reverted fixes, with the invariant that catches each.
REVERTED_FIXES: dict[str, str] = {
    "slow-step-poisons": "I8",
    "rearm-wipes-intent": "I7",
    "plan-not-durable": "I7",
    "cancelled-parent-launches": "I7",
    "attempts-from-claim": "I9",
}
