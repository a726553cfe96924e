"""`baton start`: create a job and send its first event."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import click
import typer

from baton.cli.context import CliContext, ctx_of
from baton.cli.failures import handles_errors
from baton.cli.output import console, print_job, print_json
from baton.cli.task_flags import merged_params, task_flags
from baton.handler.api import Task, TaskParams
from baton.handler.launch import launch, prepare
from baton.handler.tasks.framework.catalog import get_task, known_tasks
from baton.store.constants import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_HOPS

MANIFEST_TASK = "s3-manifest"


START_HELP = """Usage: baton start TASK [OPTIONS]

Create a job and send its first event to the worker function.

`baton start TASK --help` lists the task's parameters (a user's task too, from the modules
BATON_TASK_MODULES lists). Parameters go as flags or as `--params JSON`; a parameter given both
ways with different values is refused. Tasks: {tasks}."""


def start(
    ctx: typer.Context,
    task: Annotated[
        str | None, typer.Argument(help="Task to run, e.g. s3-walk", show_default=False)
    ] = None,
) -> None:
    """Create a job and send its first event (`baton start TASK --help` for the task's flags)."""
    c = ctx_of(ctx)
    args = list(ctx.args)
    if task is None and "--help" not in args:
        raise click.UsageError("give the task to start, e.g. `baton start s3-walk --help`")
    if task is None or task in ("--help", "-h"):
        click.echo(START_HELP.format(tasks=", ".join(_known(c))))
        return
    task = manifest_task(task, args)
    task_class = _task_class(c, task)
    command = task_command(task, task_class.Params, lambda **values: _start(c, task, values))
    command.main(args, prog_name=f"baton start {task}", standalone_mode=False)


def task_command(
    task: str, model: type[TaskParams] | None, run: Callable[..., None]
) -> click.Command:
    """The task's own command: its parameters' flags, then the flags every job has."""
    options, _ = task_flags(model)
    declared = "" if model is not None else " It declares no parameter model: use --params."
    common = [
        click.Option(["--params"], help="Parameters as a JSON object (any task, e.g. your own)"),
        click.Option(["--job-id"], help="Job id; generated if omitted"),
        click.Option(
            ["--max-hops"],
            type=int,
            default=DEFAULT_MAX_HOPS,
            show_default=True,
            help="Recursion guard: most invocations",
        ),
        click.Option(
            ["--max-attempts"],
            type=int,
            default=DEFAULT_MAX_ATTEMPTS,
            show_default=True,
            help="Failed attempts at one cursor before FAILED",
        ),
        click.Option(["--json", "json_output"], is_flag=True, help="Print JSON for scripts"),
    ]
    return click.Command(
        f"start {task}",
        callback=run,
        params=[*options, *common],
        help=f"Start a job of the {task} task.{declared}",
        no_args_is_help=False,
    )


@handles_errors
def _start(c: CliContext, task: str, values: dict[str, Any]) -> None:
    task_class = _task_class(c, task)
    _, flags = task_flags(task_class.Params)
    params = merged_params(flags, values, values.get("params"))
    # The task's own validation, for baton's tasks and the user's alike: user task modules are
    # imported from BATON_TASK_MODULES only, the allow-list the worker uses.
    spec = prepare(
        task,
        params,
        action_modules=c.relay_settings.action_modules,
        task_modules=c.relay_settings.task_modules,
        now_ms=c.store.clock.now_ms(),
        job_id=values.get("job_id"),
        max_hops=values["max_hops"],
        max_attempts=values["max_attempts"],
    )
    launched = launch(c.store, c.lambda_client, c.relay_settings.function_name, spec)
    if values.get("json_output"):
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


@handles_errors
def _task_class(c: CliContext, task: str) -> type[Task]:
    return get_task(task, c.relay_settings.task_modules)


@handles_errors
def _known(c: CliContext) -> list[str]:
    return known_tasks(c.relay_settings.task_modules)


def manifest_task(task: str, args: list[str]) -> str:
    """`s3-walk --manifest` is the s3-manifest task: same actions, objects from an inventory."""
    if task != "s3-walk":
        return task
    for i, arg in enumerate(args):
        if arg == "--manifest" or arg.startswith("--manifest="):
            return MANIFEST_TASK
        if (arg == "--params" and i + 1 < len(args)) or arg.startswith("--params="):
            text = args[i + 1] if arg == "--params" else arg.split("=", 1)[1]
            try:
                if "manifest" in json.loads(text):
                    return MANIFEST_TASK
            except (ValueError, TypeError):
                return task
    return task


def register(app: typer.Typer) -> None:
    app.command(
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": [],
        },
    )(start)
