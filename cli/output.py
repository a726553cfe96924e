"""Printing for people (rich) and for scripts (--json), and one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from store.records import Job

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


def print_job(job: Job) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", job.job_id)
    table.add_row("status", job.status.value)
    table.add_row("task", f"{job.task} {json.dumps(job.params, ensure_ascii=False)}")
    table.add_row("epoch / hops", f"{job.epoch} / {job.hops} of {job.max_hops}")
    counters = ", ".join(f"{k}={v:,}" for k, v in sorted(job.counters.items())) or "-"
    table.add_row("counters", counters)
    table.add_row("updated", job.updated_at)
    if job.lease_owner:
        table.add_row("lease", f"{job.lease_owner} (expires at ms {job.lease_expires_ms})")
    if job.attempts:
        table.add_row("attempts", f"{job.attempts} of {job.max_attempts}")
    if job.last_error:
        table.add_row("last error", job.last_error)
    if job.summary:
        table.add_row("summary", json.dumps(job.summary, ensure_ascii=False)[:2_000])
    if job.report_ref:
        table.add_row("report", f"s3://{job.report_ref['bucket']}/{job.report_ref['key']}")
    console.print(table)
