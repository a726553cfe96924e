"""`baton start`: create a job and send its first event."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from baton.cli.context import ctx_of
from baton.cli.failures import handles_errors
from baton.cli.options import JsonFlag
from baton.cli.output import console, print_job, print_json
from baton.handler.launch import launch, prepare
from baton.store.constants import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_HOPS
from baton.store.errors import InvalidJob

MANIFEST_TASK = "s3-manifest"


@handles_errors
def start(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task to run, e.g. s3-walk")],
    bucket: Annotated[str | None, typer.Option(help="Bucket to walk")] = None,
    prefix: Annotated[str | None, typer.Option(help="Only keys under this prefix")] = None,
    start_after: Annotated[str | None, typer.Option(help="Begin after this key")] = None,
    action: Annotated[
        str | None, typer.Option(help="Per-object action: count, or module:function")
    ] = None,
    action_params: Annotated[
        str | None, typer.Option(help="JSON object passed to the action")
    ] = None,
    on_error: Annotated[
        str | None, typer.Option(help="fail (retry, then fail the job) or skip (count it)")
    ] = None,
    max_failed: Annotated[int | None, typer.Option(help="With skip: fail past this many")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Objects in flight at once within a hop, 1-64 (default 8 for module:function "
            "actions, 1 for built-ins); the cursor is the key before which all are done"
        ),
    ] = None,
    expected_objects: Annotated[
        int | None, typer.Option(help="How many objects to expect, for progress and ETA")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="s3-fanout: prefixes, delimiter (default) or ranges")
    ] = None,
    shard_prefix: Annotated[
        list[str] | None, typer.Option(help="s3-fanout --split prefixes: one per shard")
    ] = None,
    boundary: Annotated[
        list[str] | None, typer.Option(help="s3-fanout --split ranges: a boundary key")
    ] = None,
    shards: Annotated[
        int | None, typer.Option(help="s3-fanout --split delimiter: at least this many")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="s3-fanout: most shards running at once")
    ] = None,
    tolerated_failures: Annotated[
        int | None, typer.Option(help="s3-fanout: failed shards the parent tolerates")
    ] = None,
    manifest: Annotated[
        str | None,
        typer.Option(help="s3-walk: walk the objects an S3 Inventory manifest.json lists"),
    ] = None,
    key: Annotated[str | None, typer.Option(help="s3-lines: the one object to read")] = None,
    format: Annotated[str | None, typer.Option(help="s3-lines: jsonl or csv")] = None,
    range_size: Annotated[
        int | None, typer.Option(help="s3-lines: bytes per ranged GET (default 8 MiB)")
    ] = None,
    source_table: Annotated[
        str | None, typer.Option(help="dynamodb-scan: the table to scan")
    ] = None,
    segments: Annotated[
        int | None, typer.Option(help="dynamodb-scan: parallel-scan segments, one child job each")
    ] = None,
    filter_expression: Annotated[
        str | None, typer.Option("--filter", help="dynamodb-scan: a FilterExpression")
    ] = None,
    filter_values: Annotated[
        str | None, typer.Option(help="dynamodb-scan: ExpressionAttributeValues as JSON")
    ] = None,
    filter_names: Annotated[
        str | None, typer.Option(help="dynamodb-scan: ExpressionAttributeNames as JSON")
    ] = None,
    params_json: Annotated[
        str | None,
        typer.Option("--params", help="Parameters as a JSON object (any task, e.g. your own)"),
    ] = None,
    job_id: Annotated[str | None, typer.Option(help="Job id; generated if omitted")] = None,
    max_hops: Annotated[
        int, typer.Option(help="Recursion guard: most invocations")
    ] = DEFAULT_MAX_HOPS,
    max_attempts: Annotated[
        int, typer.Option(help="Failed attempts before FAILED")
    ] = DEFAULT_MAX_ATTEMPTS,
    json_output: JsonFlag = False,
) -> None:
    """Create a job and send its first event to the worker function."""
    c = ctx_of(ctx)
    params: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "start_after": start_after,
        "action": action,
        "on_error": on_error,
        "max_failed": max_failed,
        "concurrency": concurrency,
        "expected_objects": expected_objects,
        "split": split,
        "prefixes": shard_prefix,
        "boundaries": boundary,
        "shards": shards,
        "max_concurrency": max_concurrency,
        "tolerated_failures": tolerated_failures,
        "manifest": manifest,
        "key": key,
        "format": format,
        "range_size": range_size,
        "source_table": source_table,
        "segments": segments,
        "filter": filter_expression,
        "action_params": _json_option("--action-params", action_params),
        "filter_values": _json_option("--filter-values", filter_values),
        "filter_names": _json_option("--filter-names", filter_names),
    }
    params = {k: v for k, v in params.items() if v is not None}
    params.update(_json_option("--params", params_json) or {})
    task = manifest_task(task, params)
    # The task's own validation, for baton's tasks and the user's alike: user task modules are
    # imported from BATON_TASK_MODULES only, the allow-list the worker uses.
    spec = prepare(
        task,
        params,
        action_modules=c.relay_settings.action_modules,
        task_modules=c.relay_settings.task_modules,
        now_ms=c.store.clock.now_ms(),
        job_id=job_id,
        max_hops=max_hops,
        max_attempts=max_attempts,
    )
    launched = launch(c.store, c.lambda_client, c.relay_settings.function_name, spec)
    if json_output:
        print_json(
            {**launched.job.to_public_dict(), "created": launched.created, "sent": launched.sent}
        )
        return
    if launched.created:
        console.print(f"started {launched.job.job_id} on {c.relay_settings.function_name}")
    elif launched.sent:
        console.print(
            f"job {launched.job.job_id} exists already and has not run yet: its first event "
            f"sent again to {c.relay_settings.function_name} (a duplicate is discarded)"
        )
    else:
        console.print(f"job {launched.job.job_id} exists already; no second chain started")
    print_job(launched.job)


def manifest_task(task: str, params: dict[str, Any]) -> str:
    """`s3-walk --manifest` is the s3-manifest task: same actions, objects from an inventory."""
    return MANIFEST_TASK if task == "s3-walk" and "manifest" in params else task


def _json_option(flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJob(f"{flag} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidJob(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value


def register(app: typer.Typer) -> None:
    app.command()(start)
