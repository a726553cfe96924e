"""`baton report`: the JSON Lines report a job left in the state bucket when it ended."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from baton.cli.context import ctx_of
from baton.cli.failures import handles_errors
from baton.cli.options import JobArg
from baton.cli.output import EXIT_USAGE, console, fail, print_json
from baton.store.reports import ReportMissing, read_report


@handles_errors
def report(
    ctx: typer.Context,
    job_id: JobArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the report to this file")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON array")
    ] = False,
) -> None:
    """Print (or save) the report of an ended job: summary, failed keys, result lines."""
    c = ctx_of(ctx)
    job = c.store.get(job_id)
    if job.report_ref is None:
        why = (job.summary or {}).get("report_error")
        if why:  # the worker said, when the job ended, why it wrote none
            raise ReportMissing(f"job {job_id!r} is {job.status.value} without a report: {why}")
        where = "" if c.store_settings.state_bucket else " (BATON_STATE_BUCKET is not set)"
        raise ReportMissing(
            f"job {job_id!r} has no report: it is {job.status.value}{where}; reports are written "
            f"when a job ends"
        )
    body = read_report(c.s3, job.report_ref)
    if output is not None:
        try:
            output.write_bytes(body)
        except OSError as exc:
            fail(f"--output {output}: cannot write it ({exc.strerror or exc})", EXIT_USAGE)
        console.print(f"saved {len(body):,} bytes to {output}")
        return
    if json_output:
        print_json([json.loads(line) for line in body.decode().splitlines() if line])
        return
    sys.stdout.write(body.decode())


def register(app: typer.Typer) -> None:
    app.command()(report)
