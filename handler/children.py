"""Child jobs of a fan-out parent: started, read and steered through the store like any job.

Child ids are derived from the parent's id and the shard's index, and the plan is committed
before any child starts, so a parent that crashes and retries starts each child at most once:
`create` returns the existing job, and an existing child that never started gets its first event
again (a duplicate event costs one refused claim).

An operator's cancel or pause of the parent reaches every shard that exists: the CLI passes it
to every planned shard id, and the parent passes it to every shard it started before it stops.
No shard is created after the request was accepted: each shard is created in one transaction
with a check that the parent is still held by the launching lease and carries no request
(`JobStore.create(under=...)`), so a cancel that lands between any read of the parent and the
create refuses the create instead of racing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from baton.handler.launch import prepare, send_event
from baton.handler.tasks.framework.catalog import find_task
from baton.handler.tasks.kit.shards import planned_shard_ids
from baton.store.errors import (
    BatonError,
    IllegalTransition,
    JobNotFound,
    StateCorrupt,
    WriteUnknown,
)
from baton.store.job_store import JobStore
from baton.store.records import Job, JobStatus, Lease

# How often one shard's cancel or pause is asked while its outcome stays unknown.
CASCADE_TRIES = 3

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

CHILD_TASK = "s3-walk"
# How often an operator's read of a parent's plan follows the holder's newer commits.
PLAN_READS = 3


class ChildJobs:
    def __init__(
        self,
        store: JobStore,
        lambda_client: LambdaClient,
        function: str,
        action_modules: tuple[str, ...],
        task_modules: tuple[str, ...] = (),
        max_running: int | None = None,
        parent: Lease | None = None,
    ) -> None:
        self.store = store
        # The lease of the parent launching the shards: every create is checked against it.
        self.parent = parent
        self.lambda_client = lambda_client
        self.function = function
        self.action_modules = action_modules
        # The most children that can run at once (the worker's reserved concurrency, less one
        # for the parent); None when the deployment sets no cap.
        self.max_running = max_running
        self.task_modules = task_modules

    def launch(
        self,
        parent_id: str,
        job_id: str,
        params: dict[str, Any],
        *,
        task: str = CHILD_TASK,
        max_hops: int,
        max_attempts: int,
    ) -> Job:
        spec = prepare(
            task,
            params,
            action_modules=self.action_modules,
            task_modules=self.task_modules,
            now_ms=self.store.clock.now_ms(),
            job_id=job_id,
            max_hops=max_hops,
            max_attempts=max_attempts,
            parent_id=parent_id,
        )
        job, created = self.store.create(spec, under=self.parent)
        never_started = job.status is JobStatus.QUEUED and job.epoch == 1 and job.hops == 0
        if created or never_started:
            send_event(self.lambda_client, self.function, job)
        return job

    def read(self, job_ids: Iterable[str]) -> dict[str, Job]:
        return {job.job_id: job for job in self.store.get_many(list(job_ids))}

    def resume_cascaded(self, job_ids: Iterable[str]) -> dict[str, Job]:
        """Resume shards the parent's own cascade paused (a pause that landed after the
        operator's resume of the parent); only while the parent runs with no request on it.

        A request that lands on the parent after this read is passed on again by the parent's
        stop, so a shard resumed here is paused again with it.
        """
        if self.parent is None:
            return {}
        parent = self.store.get(self.parent.job_id)
        held = parent.epoch == self.parent.epoch and parent.lease_owner == self.parent.owner
        if not held or parent.requested_stop is not None:
            return {}
        resumed: dict[str, Job] = {}
        for job_id in job_ids:
            try:
                job = self.store.resume(job_id, cascaded_only=True)
            except BatonError:
                continue  # paused by name meanwhile, or moved on: left as it is
            send_event(self.lambda_client, self.function, job)
            resumed[job_id] = job
        return resumed

    def pass_on(self, job_ids: Iterable[str], status: JobStatus) -> dict[str, str]:
        """Pass the parent's cancel or pause on to its shards (see `cascade`)."""
        operation = "cancel" if status is JobStatus.CANCELLED else "pause"
        return cascade(self.store, self.lambda_client, self.function, job_ids, operation)


def planned_shards(store: JobStore, parent: Job) -> list[str]:
    """The ids of every shard a parent planned (none for jobs without shards).

    PENDING ones included: the parent may have started one after its last commit, and `cascade`
    reports a shard that was never created as such.
    """
    task = find_task(parent.task)
    if task is None or not task.has_shards or not parent.has_state:
        return []
    for _ in range(PLAN_READS):
        try:
            state = store.load_state(parent)
            break
        except StateCorrupt:
            # A running parent's holder may have committed since `parent` was read and deleted
            # the object it pointed to: read the item again; the same pointer means really gone.
            fresh = store.get(parent.job_id)
            if fresh.state_ref == parent.state_ref and fresh.state_blob == parent.state_blob:
                raise
            parent = fresh
    else:
        state = store.load_state(parent)
    return planned_shard_ids(state) if isinstance(state, dict) else []


def cascade(
    store: JobStore,
    lambda_client: LambdaClient,
    function: str,
    job_ids: Iterable[str],
    operation: str,
    *,
    rerun_cancelled: bool = False,
) -> dict[str, str]:
    """Apply a parent's cancel, pause or resume to its child jobs; returns what happened to each.

    The rule: what the parent's cascade did, the parent's resume undoes; what an operator did
    to one shard by name stays until the operator undoes it. So a pause passed on here is marked
    as the cascade's; a resume re-runs FAILED shards and those the cascade paused, and leaves a
    shard paused by name PAUSED and a cancelled one CANCELLED, unless `rerun_cancelled` (a
    cancelled shard then runs again from its last cursor). A shard still on its way to the
    cascade's pause when the resume comes is resumed by the running parent once it stops.

    Children that already ended (or cannot take the operation) are reported, not raised: the
    operator acted on the parent, and one finished shard must not block the rest.

    Raises WriteUnknown when a shard's cancel or pause stayed of unknown outcome after
    CASCADE_TRIES asks (its write may still land, or never): the command did not do what it
    said, so it fails, naming the shards, after passing the request on to every other shard.
    Running it again is safe.
    """
    outcome: dict[str, str] = {}
    unknown: list[str] = []
    for job_id in job_ids:
        try:
            if operation in ("cancel", "pause"):
                outcome[job_id] = _stop(store, job_id, operation)
            elif operation == "resume":
                job = store.get(job_id)
                if job.status is JobStatus.PAUSED and not job.pause_cascaded:
                    outcome[job_id] = f"left PAUSED: paused by name (`baton resume {job_id}`)"
                    continue
                if job.status is JobStatus.CANCELLED and not rerun_cancelled:
                    outcome[job_id] = "left CANCELLED (`--rerun-cancelled` runs it again)"
                    continue
                if job.status not in (JobStatus.FAILED, JobStatus.PAUSED, JobStatus.CANCELLED):
                    outcome[job_id] = f"left {job.status.value}"
                    continue
                resumed = store.resume(job_id, reopen=rerun_cancelled)
                send_event(lambda_client, function, resumed)
                outcome[job_id] = f"resumed at epoch {resumed.epoch}"
            else:
                raise ValueError(f"cascade takes cancel, pause or resume, not {operation!r}")
        except JobNotFound:
            outcome[job_id] = "never started"
        except IllegalTransition as exc:
            outcome[job_id] = f"left as is: {exc}"
        except WriteUnknown as exc:
            if operation == "resume":
                outcome[job_id] = f"error: {exc}"
            else:
                unknown.append(job_id)
        except BatonError as exc:
            outcome[job_id] = f"error: {exc}"
    if unknown:
        raise WriteUnknown(
            f"the {operation} of shard(s) {', '.join(unknown)} is of unknown outcome (DynamoDB "
            f"did not answer); run the same {operation} again: it is safe to repeat"
        )
    return outcome


def _stop(store: JobStore, job_id: str, operation: str) -> str:
    """One shard's cancel or pause, asked again while its outcome is unknown: a write whose
    answer was lost may not have landed, and a request left unapplied is one the operator was
    told had been passed on. A copy landing late is refused by its condition (status and epoch
    as read), so asking again never applies it twice."""

    def ask() -> str:
        if operation == "cancel":
            return store.request_cancel(job_id).status.value
        return store.request_pause(job_id, cascaded=True).status.value

    for _ in range(CASCADE_TRIES - 1):
        try:
            return ask()
        except WriteUnknown:
            continue
    return ask()
