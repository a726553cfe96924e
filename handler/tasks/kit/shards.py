"""Running a job as child jobs (shards): the machinery s3-fanout and dynamodb-scan share.

A parent plans its shards once (each a task name and its parameters), then `Shards.advance`
starts them with at most `max_concurrency` running, reads their status and counters, adds the
counters up into the parent's, and reports the parent done when every shard has ended. Each
shard is an ordinary job: resumable, cancellable, visible, its id derived from the parent's id
and its index, so a parent that crashes and retries starts each shard at most once. No shard is
created after an operator's cancel or pause on the parent was accepted (the store refuses it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from baton.handler.parameters import TaskParams
from baton.handler.tasks.framework.base import JobFailure, Resources, StepContext
from baton.store.constants import DEFAULT_MAX_ATTEMPTS, MAX_JOB_ID_LENGTH
from baton.store.errors import ParentStopped
from baton.store.records import TERMINAL_STATUSES, Job, JobStatus

MAX_SHARDS = 10_000
# What a parked parent waits for (the job item's `waiting_for`).
WAITING_FOR = "shards"
PENDING = "PENDING"
TERMINAL = {s.value for s in TERMINAL_STATUSES}  # shard statuses are kept as strings
FAILED_LIKE = {JobStatus.FAILED.value, JobStatus.CANCELLED.value}
# The parent's counters as committed just before it fails (in its state).
FAILING_VIEW = "failing_counters"
# Shards planned before shards named their task were all s3-walk jobs.
LEGACY_CHILD_TASK = "s3-walk"


_SHARD_SUFFIX = re.compile(r"\.s[0-9]{4,}$")


def is_shard_id(job_id: str) -> bool:
    """Whether the id has the shape `child_id` gives shards (a parent's id, then `.s0000`)."""
    return _SHARD_SUFFIX.search(job_id) is not None


def child_id(parent_id: str, index: int) -> str:
    """The shard's job id: the parent's id and the index, hashed down if it would be too long."""
    suffix = f".s{index:04d}"
    if len(parent_id) + len(suffix) <= MAX_JOB_ID_LENGTH:
        return parent_id + suffix
    digest = hashlib.sha256(parent_id.encode()).hexdigest()[:8]
    return f"{parent_id[: MAX_JOB_ID_LENGTH - len(suffix) - 9]}-{digest}{suffix}"


class ShardParams(TaskParams):
    """The fan-out settings of a parent job (a task with shards inherits them)."""

    max_concurrency: int | None = Field(
        None, ge=1, le=1_000, description="Most shards running at once (default 10)"
    )
    tolerated_failures: int = Field(
        0, ge=0, le=MAX_SHARDS, description="Failed shards the parent tolerates"
    )
    child_max_hops: int = Field(1_000, ge=1, le=1_000_000, description="Each shard's max hops")
    child_max_attempts: int = Field(
        DEFAULT_MAX_ATTEMPTS, ge=1, le=100, description="Each shard's max attempts"
    )
    # Accepted for jobs created before parents parked (they polled every poll_s); unused.
    poll_s: int = Field(5, ge=1, le=300, description="Unused: parents park while shards run")

    def shard_settings(self, default_concurrency: int = 10) -> dict[str, int]:
        """The settings as the parent's stored params hold them, every one filled in."""
        return {
            "max_concurrency": self.max_concurrency or default_concurrency,
            "tolerated_failures": self.tolerated_failures,
            "child_max_hops": self.child_max_hops,
            "child_max_attempts": self.child_max_attempts,
            "poll_s": self.poll_s,
        }


SHARD_PARAMS = tuple(ShardParams.model_fields)


def plan_shards(
    parent_id: str, children: Iterable[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The shard list a parent keeps in its state: one (task, params) per child job."""
    return [
        {
            "id": child_id(parent_id, i),
            "task": task,
            "params": params,
            "status": PENDING,
            "counters": {},
        }
        for i, (task, params) in enumerate(children)
    ]


class Shards:
    """Drives a parent's shards; the state holds them under "shards"."""

    def __init__(self, resources: Resources, params: Mapping[str, Any], where: str) -> None:
        if resources.children is None:
            raise JobFailure(f"{where} needs the job store to start child jobs; it cannot run here")
        self.children = resources.children
        self.sleep = resources.sleep
        self.params = params
        self.where = where

    def advance(self, state: dict[str, Any], ctx: StepContext) -> bool:
        """Read the running shards, start pending ones, add counters up; True when all ended."""
        changed = self._poll(state)
        # No read of the parent's own item here: each launch is refused by the store once an
        # operator's cancel or pause on the parent was accepted (the create and that check are
        # one transaction), so no read-then-launch window is left for a request to slip into.
        launched, stopped = self._launch(state, ctx.job_id)
        tally(state, ctx)
        if stopped:
            # Launch nothing more; the commit brings the request to the relay, which stops the
            # parent (and `stopping` passes it on to the shards it started).
            ctx.commit_now()
            return False
        shards = state["shards"]
        ended = all(s["status"] in TERMINAL for s in shards)
        failed = [s["id"] for s in shards if s["status"] in FAILED_LIKE]
        tolerated = int(self.params.get("tolerated_failures", 0))
        failing = ended and len(failed) > tolerated
        if failing and state.get(FAILING_VIEW) != ctx.counters:
            # Failing ends the job without committing this step: commit the shards' final
            # statuses and counters first (the next step fails on that view), so the FAILED
            # parent shows them, not those of a poll ago.
            state[FAILING_VIEW] = dict(ctx.counters)
            ctx.commit_now()
            return False
        if not failing:
            state.pop(FAILING_VIEW, None)
        if ended:
            if failing:
                raise JobFailure(
                    f"{len(failed)} of {len(shards)} shards did not succeed (tolerated "
                    f"{tolerated}): {', '.join(failed[:10])}; {_rerun_advice(shards, ctx.job_id)}"
                )
            return True
        if not changed and not launched:
            # Nothing moved: park the parent until a shard ends (each shard's terminal write
            # sends the parent's event), holding no Lambda slot while its shards run.
            ctx.wait_for(WAITING_FOR)
        return False

    @staticmethod
    def tally(state: dict[str, Any], ctx: StepContext) -> None:
        """Set the parent's counters from its shards (theirs added up, and shards by status): what
        a parent does once it has planned, before it commits the plan."""
        tally(state, ctx)

    @staticmethod
    def pass_on(resources: Resources, state: Mapping[str, Any], status: JobStatus) -> None:
        """A parent's `Task.stopping`: pass the operator's cancel or pause on to every shard it
        started (nothing to do without a job store, or before any shard started)."""
        pass_on_request(resources, state, status)

    def moved(self, state: dict[str, Any]) -> bool:
        """Whether any shard the state shows running or stopped has changed status since: read
        after the parent parked, so a shard that ended just before the park still wakes it.
        Counters alone do not count: running shards commit them every few seconds, and the
        parent would never stay parked."""
        watching = [
            s for s in state["shards"] if s["status"] not in (PENDING, JobStatus.SUCCEEDED.value)
        ]
        if not watching:
            return False
        jobs = self.children.read(s["id"] for s in watching)
        return any(
            (job := jobs.get(s["id"])) is not None and job.status.value != s["status"]
            for s in watching
        )

    def _poll(self, state: dict[str, Any]) -> bool:
        # Failed and cancelled shards are read again too: an operator may have resumed them.
        watching = [
            s for s in state["shards"] if s["status"] not in (PENDING, JobStatus.SUCCEEDED.value)
        ]
        if not watching:
            return False
        jobs = self.children.read(s["id"] for s in watching)
        # A shard the parent's own cascade paused while the parent runs again (its pause landed
        # after the operator's resume of the parent): the parent resumes it.
        paused = [
            i for i, job in jobs.items() if job.status is JobStatus.PAUSED and job.pause_cascaded
        ]
        if paused:
            jobs.update(self.children.resume_cascaded(paused))
        changed = False
        for shard in watching:
            job = jobs.get(shard["id"])
            if job is None:
                continue
            if job.status.value != shard["status"] or job.counters != shard["counters"]:
                changed = True
            shard["status"] = job.status.value
            shard["counters"] = dict(job.counters)
        return changed

    def _limit(self) -> int:
        limit = int(self.params.get("max_concurrency", 10))
        if self.children.max_running is not None:  # the deployment's reserved concurrency
            limit = min(limit, self.children.max_running)
        return limit

    @staticmethod
    def _running(shards: list[dict[str, Any]]) -> int:
        return sum(1 for s in shards if s["status"] not in (PENDING, *TERMINAL))

    def _launch(self, state: dict[str, Any], parent_id: str) -> tuple[int, bool]:
        """Start pending shards while slots are free: (how many started, whether the parent
        may start no more)."""
        shards = state["shards"]
        running = self._running(shards)
        launched = 0
        limit = self._limit()
        for shard in shards:
            if running >= limit:
                break
            if shard["status"] != PENDING:
                continue
            try:
                job = self.children.launch(
                    parent_id,
                    shard["id"],
                    shard["params"],
                    task=shard.get("task", LEGACY_CHILD_TASK),
                    max_hops=int(self.params.get("child_max_hops", 1_000)),
                    max_attempts=int(self.params.get("child_max_attempts", DEFAULT_MAX_ATTEMPTS)),
                )
            except ParentStopped as stop:
                if isinstance(stop.existing, Job):
                    # Created by an earlier launch, before the request: recorded as started,
                    # so the parent's stop passes the request on to it too.
                    shard["status"] = stop.existing.status.value
                    shard["counters"] = dict(stop.existing.counters)
                return launched, True
            shard["status"] = job.status.value
            shard["counters"] = dict(job.counters)
            running += 1
            launched += 1
        return launched, False


def _rerun_advice(shards: list[dict[str, Any]], parent_id: str) -> str:
    """How to run the shards that did not succeed again: a cancelled one needs asking for."""
    cancelled = [s["id"] for s in shards if s["status"] == JobStatus.CANCELLED.value]
    if not cancelled:
        return f"`baton resume {parent_id}` re-runs only those"
    named = ", ".join(cancelled[:5]) + (" ..." if len(cancelled) > 5 else "")
    return (
        f"`baton resume {parent_id}` re-runs the failed ones; {named} "
        f"{'was' if len(cancelled) == 1 else 'were'} cancelled: `baton resume {parent_id} "
        f"--rerun-cancelled` runs {'it' if len(cancelled) == 1 else 'them'} again too"
    )


def planned_shard_ids(state: Mapping[str, Any]) -> list[str]:
    """The id of every shard the parent's state plans, started or not."""
    return [s["id"] for s in state.get("shards", [])]


def pass_on_request(resources: Resources, state: Mapping[str, Any], status: JobStatus) -> None:
    """Pass a parent's cancel or pause on to every shard it started, committed or not (a
    parent's `Task.stopping`)."""
    children = resources.children
    started = [s["id"] for s in state.get("shards", []) if s["status"] != PENDING]
    if children is None or not started:
        return
    outcome = children.pass_on(started, status)
    resources.logger.info(
        "operator request passed on to the shards",
        extra={"status": status.value, "shards": outcome},
    )


def tally(state: dict[str, Any], ctx: StepContext) -> None:
    """The parent's counters: the shards' counters added up, and shards by status."""
    totals: dict[str, int] = {}
    for shard in state["shards"]:
        for name, value in shard["counters"].items():
            totals[name] = totals.get(name, 0) + int(value)
        key = f"shards_{shard['status'].lower()}"
        totals[key] = totals.get(key, 0) + 1
    totals["shards"] = len(state["shards"])
    ctx.counters.clear()
    ctx.counters.update(totals)


def shards_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for shard in state.get("shards", []):
        by_status[shard["status"]] = by_status.get(shard["status"], 0) + 1
    failed = [s["id"] for s in state.get("shards", []) if s["status"] in FAILED_LIKE]
    return {
        "shards": len(state.get("shards", [])),
        "by_status": by_status,
        "failed_shards": failed[:20],
    }


def shards_report(state: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for shard in state.get("shards", []):
        yield {"type": "shard", **shard}
