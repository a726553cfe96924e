"""`baton`: the operator's command. Commands live in `cli/commands/`, one module per group."""

from __future__ import annotations

from typing import Annotated

import typer

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
from baton.cli.output import EXIT_USAGE, fail

app = typer.Typer(
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
    ctx.obj = CliContext(table=table, function=function)


for _module in (setup, jobs, inspect, control, failed_events, reports, local, deploy):
    _module.register(app)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted", EXIT_USAGE)


if __name__ == "__main__":
    run()
