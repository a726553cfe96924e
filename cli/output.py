"""Printing for people (rich) and for scripts (--json), and one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.view import JobView, format_counters
from baton.store.clock import SystemClock, iso_from_ms
from baton.store.records import Job
from baton.store.units import duration, human_bytes

console = Console()
err_console = Console(stderr=True)

EXIT_ERROR = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One line on stderr, a non-zero exit: what went wrong and, where known, what to do."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def render_status(view: JobView) -> Table:
    job = view.job
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("job", job.job_id)
    table.add_row("status", f"{job.status.value}  ({view.verdict.health.value})")
    table.add_row("health", view.verdict.reason)
    table.add_row("task", f"{job.task} {json.dumps(job.params, ensure_ascii=False)}")
    table.add_row("epoch / hops", f"{job.epoch} / {job.hops} of {job.max_hops}")
    table.add_row("counters", format_counters(job.counters))
    if "bytes" in job.counters:
        table.add_row("bytes", human_bytes(job.counters["bytes"]))
    if view.expected_total:
        share = 100 * view.done / view.expected_total if view.expected_total else 100
        table.add_row("progress", f"{view.done:,} of {view.expected_total:,} ({share:.1f}%)")
    table.add_row("rate", view.rate_text())
    table.add_row("eta", view.eta_text())
    if view.since_commit_s is not None:
        table.add_row("last commit", f"{duration(int(view.since_commit_s * 1000))} ago")
    if job.lease_owner:
        table.add_row("lease", f"{job.lease_owner} until {iso_from_ms(job.lease_expires_ms or 0)}")
    if job.attempts:
        table.add_row("attempts", f"{job.attempts} of {job.max_attempts} failed at this cursor")
    if job.last_error:
        table.add_row("last error", job.last_error)
    if job.summary:
        table.add_row("summary", json.dumps(job.summary, ensure_ascii=False)[:2_000])
    if job.report_ref:
        table.add_row("report", f"s3://{job.report_ref['bucket']}/{job.report_ref['key']}")
    elif job.summary and job.summary.get("report_error"):
        table.add_row("report", str(job.summary["report_error"]))  # why the job has none
    table.add_row("created / updated", f"{job.created_at} / {job.updated_at}")
    return table


def print_job(job: Job) -> None:
    """The job as `baton status` shows it, for commands that change a job."""
    view = JobView.of(job, SystemClock().now_ms())
    console.print(render_status(view))
