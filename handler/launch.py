"""Starting and re-sending jobs: shared by the CLI, the local stack and the watchdog.

A job is created QUEUED at epoch 1, then its first event is sent asynchronously. Creating the
same job id again with the same task and parameters returns the existing job; its first event is
sent again only while no invocation has claimed it (epoch 1, no hop), else nothing is sent.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from baton.handler.event import RelayEvent
from baton.handler.tasks.framework.catalog import get_task
from baton.handler.tasks.kit.shards import is_shard_id
from baton.store.constants import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_HOPS,
    JOB_ID_PATTERN,
    MAX_MAX_ATTEMPTS,
    MAX_MAX_HOPS,
)
from baton.store.errors import BatonError, InvalidJob
from baton.store.job_store import JobStore
from baton.store.records import Job, JobSpec, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class InvokeFailed(BatonError):
    """The job is stored, but Lambda did not accept its event."""


@dataclass(frozen=True)
class Launched:
    job: Job
    created: bool  # False: the job existed already
    sent: bool = True  # whether this call sent the job's event


def never_claimed(job: Job) -> bool:
    """QUEUED at epoch 1, no hop yet, unheld: the first event may never have gone out (its
    invoke failed, or the create's answer was lost before it was sent). Sending it again is
    the outcome a retried start asks for, and harmless: the claim lets one event of an epoch
    run and discards the others."""
    return (
        job.status is JobStatus.QUEUED
        and job.epoch == 1
        and job.hops == 0
        and job.lease_owner is None
    )


def new_job_id(now_ms: int) -> str:
    """Time-sortable and unique: 20261126T181819.123Z-9f3a01c2."""
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}.{now_ms % 1000:03d}Z-{secrets.token_hex(4)}"


def prepare(
    task: str,
    params: dict[str, Any],
    *,
    action_modules: tuple[str, ...],
    now_ms: int,
    task_modules: tuple[str, ...] = (),
    job_id: str | None = None,
    max_hops: int = DEFAULT_MAX_HOPS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    parent_id: str | None = None,
) -> JobSpec:
    """Validate everything before anything is written."""
    if job_id is not None and not JOB_ID_PATTERN.match(job_id):
        raise InvalidJob(f"job id must match {JOB_ID_PATTERN.pattern}, got {job_id!r}")
    if job_id is not None and parent_id is None and is_shard_id(job_id):
        raise InvalidJob(
            f"job id {job_id!r} ends like a shard's id (.s0000): a fan-out named "
            f"{job_id.rsplit('.', 1)[0]!r} would meet it as its shard; choose another --job-id"
        )
    if not 1 <= max_hops <= MAX_MAX_HOPS:
        raise InvalidJob(f"max_hops must be between 1 and {MAX_MAX_HOPS:,}, got {max_hops}")
    if not 1 <= max_attempts <= MAX_MAX_ATTEMPTS:
        raise InvalidJob(
            f"max_attempts must be between 1 and {MAX_MAX_ATTEMPTS}, got {max_attempts}"
        )
    normalised = get_task(task, task_modules).validate(params, action_modules)
    return JobSpec(
        job_id=job_id or new_job_id(now_ms),
        task=task,
        params=normalised,
        max_hops=max_hops,
        max_attempts=max_attempts,
        parent_id=parent_id,
    )


def send_event(lambda_client: LambdaClient, function: str, job: Job) -> None:
    """Send the event for the job's current epoch; raises InvokeFailed with Lambda's reason."""
    payload = json.dumps(RelayEvent(job_id=job.job_id, epoch=job.epoch).payload()).encode()
    try:
        lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    except Exception as exc:
        raise InvokeFailed(
            f"job {job.job_id!r} is stored QUEUED at epoch {job.epoch}, but invoking "
            f"{function!r} failed ({type(exc).__name__}: {exc}); fix that and run "
            f"`baton resume {job.job_id}`"
        ) from exc


def launch(store: JobStore, lambda_client: LambdaClient, function: str, spec: JobSpec) -> Launched:
    """Create the job and send its first event. The same job again (same id, task and
    parameters) starts no second chain; while it has never been claimed its event is sent
    again, so a start retried after a failed invoke or an unknown create ends in a running job."""
    job, created = store.create(spec)
    if not created and not never_claimed(job):
        return Launched(job=job, created=False, sent=False)
    send_event(lambda_client, function, job)
    return Launched(job=job, created=created)
