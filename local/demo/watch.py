"""What both demos (`baton demo` and `baton demo --input`) do around their job: follow it until
it ends, restarting a stalled chain as the deployed watchdog would, then check its counters
against the truth in a table and say whether the demo passed."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job, JobStatus

POLL_S = 0.2  # how often a demo reads the job item; the display refreshes at this pace


def follow(
    stack: LocalStack,
    job: Job,
    max_wait_s: float,
    console: Console,
    watchdog: LocalWatchdog,
    show: Callable[[Job], None],
) -> Job:
    """Read the job every POLL_S and `show` it, until it ends, pauses or `max_wait_s` passes."""
    deadline = time.monotonic() + max_wait_s
    while True:
        job = stack.store.get(job.job_id)
        show(job)
        if job.status.terminal or job.status is JobStatus.PAUSED:
            return job
        if time.monotonic() > deadline:
            console.print(f"[red]the job did not end within {max_wait_s:.0f} s[/]")
            return job
        watchdog(job)
        time.sleep(POLL_S)


def checks_pass(title: str, checks: list[tuple[str, str, str]], console: Console) -> bool:
    """Print (check, expected, job) rows with ok/MISMATCH; True when every row matches."""
    table = Table(title=title, title_justify="left")
    table.add_column("check")
    table.add_column("expected", justify="right")
    table.add_column("job", justify="right")
    table.add_column("")
    ok = True
    for name, expected, got in checks:
        match = expected == got
        ok &= match
        table.add_row(name, expected, got, "[green]ok[/]" if match else "[red]MISMATCH[/]")
    console.print(table)
    return ok


def run_summary(job: Job, stats: dict[str, int], took_s: float) -> str:
    """Hops and what the local Lambda service did for them."""
    return (
        f"{job.hops} hops, {stats.get('invocations', 0)} invocations "
        f"({stats.get('cold_starts', 0)} cold starts, {stats.get('retries', 0)} retries, "
        f"{stats.get('dead_lettered', 0)} dead letters) in {took_s:.1f} s"
    )


def verdict(ok: bool, console: Console, passed: str, failed: str) -> int:
    """The demo's exit code, said in words."""
    if ok:
        console.print(f"[bold green]demo passed[/]: {passed}")
        return 0
    console.print(f"[bold red]demo FAILED[/]: {failed}")
    return 1
