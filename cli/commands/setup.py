"""`baton init`: create what baton needs in the account (or on the local stack)."""

from __future__ import annotations

import typer

from cli.context import ctx_of
from cli.errors import handles_errors
from cli.output import console


@handles_errors
def init(ctx: typer.Context) -> None:
    """Create the jobs table (with its by-status index and TTL) if it is missing."""
    store = ctx_of(ctx).store
    created = store.ensure_table()
    verb = "created" if created else "exists already:"
    console.print(f"jobs table {verb} {store.table_name}")


def register(app: typer.Typer) -> None:
    app.command()(init)
