"""`baton init`: create what baton needs in the account (or on the local stack)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from baton.cli.context import ctx_of
from baton.cli.failures import handles_errors
from baton.cli.options import JsonFlag
from baton.cli.output import console, print_json
from baton.infra.deploy import ensure_private_bucket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@handles_errors
def init(
    ctx: typer.Context,
    index_upgrade: Annotated[
        bool,
        typer.Option(
            "--index-upgrade",
            help="Give jobs written before the sharded by-status index their index key "
            "(one Scan of the table; the upgrade step in docs/deploy.md)",
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Create the jobs table (by-status index, TTL) and the state bucket if they are missing."""
    c = ctx_of(ctx)
    created = c.store.ensure_table()
    bucket = c.store_settings.state_bucket
    made = ensure_state_bucket(c.s3, bucket) if bucket else False
    indexed = c.store.backfill_status_index() if index_upgrade else None
    if json_output:
        print_json(
            {
                "table": c.store.table_name,
                "table_created": created,
                "state_bucket": bucket,
                "state_bucket_created": made,
                **({} if indexed is None else {"jobs_indexed": indexed}),
            }
        )
        return
    verb = "created" if created else "exists already:"
    console.print(f"jobs table {verb} {c.store.table_name}")
    if indexed is not None:
        console.print(f"{indexed:,} jobs written before the sharded by-status index now indexed")
    if not bucket:
        console.print("no BATON_STATE_BUCKET: states stay inline (64 KiB) and no reports are kept")
        return
    console.print(f"state bucket {'created' if made else 'exists already:'} {bucket}")


def ensure_state_bucket(s3: S3Client, bucket: str) -> bool:
    """Create the state bucket, private and encrypted, unless it exists; True when created."""
    return ensure_private_bucket(s3, bucket, s3.meta.region_name)


def register(app: typer.Typer) -> None:
    app.command()(init)
