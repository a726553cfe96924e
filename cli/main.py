"""`baton`: create the table, start jobs, read their status."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from cli.context import CliContext
from cli.output import EXIT_USAGE, console, fail, print_job, print_json
from handler.launch import launch, prepare
from store.errors import BatonError, ConfigError, InvalidJob, JobNotFound

app = typer.Typer(
    name="baton",
    help="Run and operate baton jobs: Lambda chains that pass a baton through DynamoDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(command: F) -> F:
    """Turn every expected failure into one clear line and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (InvalidJob, ConfigError) as exc:
            fail(str(exc), EXIT_USAGE)
        except BatonError as exc:
            fail(str(exc))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            fail(f"AWS refused the call: {error.get('Code', '?')}: {error.get('Message', exc)}")
        except BotoCoreError as exc:
            fail(f"cannot reach AWS: {exc}")
        except PynamoDBException as exc:
            cause = exc.cause_response_message or str(exc)
            if exc.cause_response_code == "ResourceNotFoundException":
                cause = "the jobs table does not exist; run `baton init`"
            fail(f"DynamoDB: {cause}")

    return wrapper  # type: ignore[return-value]


def ctx_of(ctx: typer.Context) -> CliContext:
    obj = ctx.obj
    assert isinstance(obj, CliContext)
    return obj


@app.callback()
def main(
    ctx: typer.Context,
    table: Annotated[
        str | None, typer.Option(help="Jobs table [env: BATON_TABLE, default baton-jobs]")
    ] = None,
    function: Annotated[
        str | None,
        typer.Option(help="Worker function [env: BATON_FUNCTION, default baton-worker]"),
    ] = None,
) -> None:
    ctx.obj = CliContext(table=table, function=function)


@app.command()
@handles_errors
def init(ctx: typer.Context) -> None:
    """Create the jobs table (with its by-status index and TTL) if it is missing."""
    store = ctx_of(ctx).store
    created = store.ensure_table()
    verb = "created" if created else "exists already:"
    console.print(f"jobs table {verb} {store.table_name}")


@app.command()
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
    job_id: Annotated[str | None, typer.Option(help="Job id; generated if omitted")] = None,
    max_hops: Annotated[int, typer.Option(help="Recursion guard: most invocations")] = 1_000,
    max_attempts: Annotated[int, typer.Option(help="Failed attempts before FAILED")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="Print the job as JSON")] = False,
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
    }
    if action_params is not None:
        try:
            params["action_params"] = json.loads(action_params)
        except json.JSONDecodeError as exc:
            raise InvalidJob(f"--action-params must be a JSON object: {exc}") from None
    params = {k: v for k, v in params.items() if v is not None}
    spec = prepare(
        task,
        params,
        action_modules=c.relay_settings.action_modules,
        now_ms=c.store.clock.now_ms(),
        job_id=job_id,
        max_hops=max_hops,
        max_attempts=max_attempts,
    )
    launched = launch(c.store, c.lambda_client, c.relay_settings.function_name, spec)
    if json_output:
        print_json({**launched.job.to_public_dict(), "created": launched.created})
        return
    if launched.created:
        console.print(f"started {launched.job.job_id} on {c.relay_settings.function_name}")
    else:
        console.print(f"job {launched.job.job_id} exists already; no second chain started")
    print_job(launched.job)


@app.command()
@handles_errors
def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the job as JSON")] = False,
) -> None:
    """Show a job: status, epoch, hops, counters, lease and last error."""
    store = ctx_of(ctx).store
    job = store.find(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if json_output:
        print_json(job.to_public_dict())
    else:
        print_job(job)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted", EXIT_USAGE)


if __name__ == "__main__":
    run()
