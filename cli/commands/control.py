"""Changing jobs: `cancel`, `pause`, `resume`, the `kill-switch` and the `watchdog`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from baton.cli.context import CliContext, ctx_of
from baton.cli.failures import handles_errors
from baton.cli.options import JobArg, JsonFlag
from baton.cli.output import console, print_job, print_json
from baton.handler.children import cascade, planned_shards
from baton.handler.launch import send_event
from baton.handler.parent_wake import event_sender, wake_parked_parent
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.errors import IllegalTransition, InvalidJob
from baton.store.records import Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# The function's reserved concurrency before `kill-switch on`, restored by `off`.
RESTORE_TAG = "baton:reserved-before-kill-switch"


def _show(job: Job, message: str, json_output: bool, shards: dict[str, str] | None = None) -> None:
    if json_output:
        extra = {"shards": shards} if shards else {}
        print_json({**job.to_public_dict(), "message": message, **extra})
    else:
        console.print(message)
        print_job(job)


def _cascade(
    c: CliContext, job: Job, operation: str, *, rerun_cancelled: bool = False
) -> dict[str, str]:
    shards = planned_shards(c.store, job)
    if not shards:
        return {}
    return cascade(
        c.store,
        c.lambda_client,
        c.relay_settings.function_name,
        shards,
        operation,
        rerun_cancelled=rerun_cancelled,
    )


def _wake_parent(c: CliContext, job: Job) -> None:
    """A shard stopped here at once (nobody held it) wakes its parked parent, as a shard that
    stops in its own hop does; a held shard's holder stops it, and wakes the parent then."""
    if job.parent_id and job.status in (JobStatus.CANCELLED, JobStatus.PAUSED):
        send = event_sender(c.lambda_client, c.relay_settings.function_name)
        wake_parked_parent(c.store, job, send)


def _shard_note(outcome: dict[str, str]) -> str:
    if not outcome:
        return ""
    tally: dict[str, int] = {}
    for result in outcome.values():
        tally[result.split(":")[0]] = tally.get(result.split(":")[0], 0) + 1
    return "; shards: " + ", ".join(f"{n} {what}" for what, n in sorted(tally.items()))


@handles_errors
def cancel(ctx: typer.Context, job_id: JobArg, json_output: JsonFlag = False) -> None:
    """Cancel a job (and every shard of a fan-out): at once if nobody holds it, else at the
    holder's next commit."""
    c = ctx_of(ctx)
    # Cancelling a CANCELLED job is allowed: it cascades again to any shard still running.
    job = c.store.request_cancel(job_id)
    _wake_parent(c, job)
    shards = _cascade(c, job, "cancel")
    if job.status is JobStatus.CANCELLED:
        message = f"job {job_id} cancelled; it will never run again"
    else:
        message = (
            f"cancel requested: {job.lease_owner} stops at its next checkpoint "
            f"(within BATON_CHECKPOINT_S)"
        )
    _show(job, message + _shard_note(shards), json_output, shards)


@handles_errors
def pause(ctx: typer.Context, job_id: JobArg, json_output: JsonFlag = False) -> None:
    """Pause a job (and every shard of a fan-out), resumable: at once if nobody holds it, else
    at its next commit."""
    c = ctx_of(ctx)
    job = c.store.request_pause(job_id)
    _wake_parent(c, job)
    shards = _cascade(c, job, "pause")
    if job.status is JobStatus.PAUSED:
        message = f"job {job_id} paused; `baton resume {job_id}` continues it from its cursor"
    else:
        message = f"pause requested: {job.lease_owner} stops at its next checkpoint"
    _show(job, message + _shard_note(shards), json_output, shards)


@handles_errors
def resume(
    ctx: typer.Context,
    job_id: JobArg,
    max_hops: Annotated[
        int | None, typer.Option(help="Raise the hop limit (a job that ran out of hops)")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Take over a lease whose term ran out unrenewed (skew margin)"),
    ] = False,
    rerun_cancelled: Annotated[
        bool,
        typer.Option(
            help="A fan-out: also run its CANCELLED shards again, each from its last cursor"
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Continue a FAILED, PAUSED or stalled job from its last committed cursor, at a new epoch.

    A fan-out's resume also re-runs its FAILED shards and those its own pause paused; a shard
    paused by name stays PAUSED, a CANCELLED one stays so unless --rerun-cancelled."""
    if max_hops is not None and max_hops < 1:
        raise InvalidJob("--max-hops must be at least 1")
    c = ctx_of(ctx)
    if not rerun_cancelled:
        _refuse_a_resume_that_fails_again(c, job_id)
    # The parent first: a resume it refuses (a live lease, no hops left) touches no shard.
    job = c.store.resume(job_id, max_hops=max_hops, force=force)
    shards = _cascade(c, job, "resume", rerun_cancelled=rerun_cancelled)
    send_event(c.lambda_client, c.relay_settings.function_name, job)
    message = (
        f"job {job_id} resumed at epoch {job.epoch} on {c.relay_settings.function_name}; "
        f"events of older epochs are now discarded"
    )
    _show(job, message + _shard_note(shards), json_output, shards)


def _refuse_a_resume_that_fails_again(c: CliContext, job_id: str) -> None:
    """A fan-out with more CANCELLED shards than it tolerates would fail again at once: a
    cancelled shard stays cancelled unless the operator asks for it to run again."""
    job = c.store.get(job_id)
    if job.status is not JobStatus.FAILED:
        return
    shards = c.store.get_many(planned_shards(c.store, job))
    cancelled = sorted(s.job_id for s in shards if s.status is JobStatus.CANCELLED)
    tolerated = int(job.params.get("tolerated_failures", 0) or 0)
    if len(cancelled) <= tolerated:
        return
    named = ", ".join(cancelled[:5]) + (" ..." if len(cancelled) > 5 else "")
    raise IllegalTransition(
        f"job {job_id!r} would fail again at once: {len(cancelled)} of its shards "
        f"({named}) were cancelled and it tolerates {tolerated}; `baton resume {job_id} "
        f"--rerun-cancelled` runs them again from their last cursor",
        job_id=job_id,
    )


KILL_ON = (
    "kill switch ON: {fn} has reserved concurrency 0.\n"
    "- New async events (hand-offs, resumes, Lambda's retries) are not run: they go straight "
    "to the function's on-failure destination, without retries.\n"
    "- Invocations already running finish their hop; their hand-off event goes there too.\n"
    "- Every job keeps its cursor in the table. After `baton kill-switch off`, `baton resume "
    "JOB` (or the watchdog) continues each from its last checkpoint."
)
KILL_OFF = (
    "kill switch OFF: {fn} has its reserved concurrency from before the switch ({limit}).\n"
    "- Chains stopped while it was on stay where they were: `baton list --status QUEUED` and "
    "`--status RUNNING` show them; `baton resume JOB` (or the watchdog) restarts each."
)


@handles_errors
def kill_switch(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on, off or status")],
    json_output: JsonFlag = False,
) -> None:
    """Stop every chain at once (reserved concurrency 0), or lift it; jobs stay resumable."""
    c = ctx_of(ctx)
    fn = c.relay_settings.function_name
    client = c.lambda_client
    if state == "on":
        remember_reserved(client, fn)
        client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    elif state == "off":
        # What `on` replaced (kept in a tag), else the deployed guard rail
        # (BATON_RESERVED_CONCURRENCY, in the stack's BatonEnvironment output), else no limit.
        restore_reserved(client, fn, c.relay_settings.reserved_concurrency)
    elif state != "status":
        raise InvalidJob(f"kill-switch takes on, off or status, not {state!r}")
    reserved: int | None
    try:
        reserved = client.get_function_concurrency(FunctionName=fn).get(
            "ReservedConcurrentExecutions"
        )
    except ClientError:
        if state == "status":
            raise
        reserved = 0 if state == "on" else None
    engaged = reserved == 0
    if json_output:
        print_json({"function": fn, "kill_switch": engaged, "reserved_concurrency": reserved})
        return
    text = KILL_ON if engaged else KILL_OFF
    limit = "none" if reserved is None else str(reserved)
    if state == "status" and not engaged:
        text = f"kill switch off for {{fn}} (reserved concurrency: {limit})"
    console.print(text.format(fn=fn, limit=limit), soft_wrap=True)


def _function(client: LambdaClient, fn: str) -> tuple[str, dict[str, str]]:
    found = client.get_function(FunctionName=fn)
    return found["Configuration"]["FunctionArn"], dict(found.get("Tags") or {})


def remember_reserved(client: LambdaClient, fn: str) -> None:
    """Keep the reserved concurrency the switch replaces in a tag on the function (once: a
    second `on` must not overwrite it with the 0 the first one set)."""
    arn, tags = _function(client, fn)
    if RESTORE_TAG in tags:
        return
    try:
        before = client.get_function_concurrency(FunctionName=fn).get(
            "ReservedConcurrentExecutions"
        )
    except ClientError:
        before = None
    client.tag_resource(Resource=arn, Tags={RESTORE_TAG: "none" if before is None else str(before)})


def restore_reserved(client: LambdaClient, fn: str, deployed: int | None = None) -> None:
    """Put back the reserved concurrency `on` replaced; without its tag (the switch was set by
    another tool), the deployed guard rail; with neither, remove the limit."""
    arn, tags = _function(client, fn)
    before = tags.get(RESTORE_TAG, str(deployed) if deployed else "none")
    if before.isdigit() and int(before) > 0:
        client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=int(before))
    else:
        client.delete_function_concurrency(FunctionName=fn)
    if RESTORE_TAG in tags:
        client.untag_resource(Resource=arn, TagKeys=[RESTORE_TAG])


@handles_errors
def watchdog(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One sweep, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between sweeps")] = 60.0,
    json_output: JsonFlag = False,
) -> None:
    """Find lost chains and restart them (what the scheduled watchdog function does)."""
    c = ctx_of(ctx)
    dog = Watchdog(
        c.store, c.lambda_client, c.relay_settings.function_name, WatchdogSettings.from_env()
    )
    while True:
        actions = dog.sweep()
        if json_output:
            print_json({"actions": [a.to_dict() for a in actions]})
        elif not actions:
            console.print("watchdog: no stalled jobs")
        else:
            table = Table("job", "action", "epoch", "why")
            for a in actions:
                table.add_row(a.job_id, a.action, str(a.epoch), a.detail)
            console.print(table)
        if once:
            return
        time.sleep(interval)


def register(app: typer.Typer) -> None:
    app.command()(cancel)
    app.command()(pause)
    app.command()(resume)
    app.command(name="kill-switch")(kill_switch)
    app.command()(watchdog)
