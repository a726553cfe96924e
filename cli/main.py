"""`baton`: the operator's command. Commands live in `cli/commands/`, one module per group."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import click
import typer
from rich.markup import escape

# typer 0.2x carries its own copy of click: its commands raise that copy's exceptions, while the
# task commands `baton start TASK` builds (baton.cli.task_flags) use click itself.
from typer._click import exceptions as typer_click
from typer.core import TyperGroup

from baton.cli.commands import (
    control,
    deploy,
    failed_events,
    inspect,
    jobs,
    local,
    reports,
    setup,
)
from baton.cli.context import CliContext
from baton.cli.output import EXIT_ERROR, EXIT_USAGE, err_console, fail
from baton.handler.observability import logger


class OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr with exit 2, like every other error of baton (click
    would print the usage and a framed box), and the command's exit code otherwise."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.ClickException, typer_click.ClickException) as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (`{ctx.command_path} --help`)" if ctx is not None else ""
            err_console.print(
                f"[bold red]error:[/] {escape(exc.format_message() + hint)}",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)
        except (click.Abort, typer.Abort):
            err_console.print("[bold red]error:[/] aborted")
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="baton",
    help="Run and operate baton jobs: Lambda chains that pass a baton through DynamoDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    table: Annotated[
        str | None, typer.Option(envvar="BATON_TABLE", help="Jobs table (default baton-jobs)")
    ] = None,
    function: Annotated[
        str | None,
        typer.Option(envvar="BATON_FUNCTION", help="Worker function (default baton-worker)"),
    ] = None,
) -> None:
    # A value from the flag is reported as the flag, one from the environment as the variable.
    given = {name for name in ("table", "function") if _source(ctx, name) == "COMMANDLINE"}
    ctx.obj = CliContext(table=table, function=function, flags=frozenset(given))
    # Logs of the library code a command runs (the watchdog's sweep) go to stderr: stdout is
    # for the command's output, JSON alone under --json.
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        before = handler.setStream(sys.stderr)
        ctx.call_on_close(lambda: handler.setStream(before) if before is not None else None)


for _module in (setup, jobs, inspect, control, failed_events, reports, local, deploy):
    _module.register(app)


def _source(ctx: typer.Context, name: str) -> str:
    source = ctx.get_parameter_source(name)
    return source.name if source is not None else ""


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted", EXIT_USAGE)


if __name__ == "__main__":
    run()
