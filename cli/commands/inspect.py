"""Reading jobs: `status`, `watch`, `list`, `history`."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from baton.cli.context import ctx_of
from baton.cli.failures import handles_errors
from baton.cli.options import JobArg, JsonFlag
from baton.cli.output import console, fail, print_json, render_status
from baton.cli.view import JobView, format_counters, hop_duration_ms
from baton.handler.children import planned_shards
from baton.store.errors import InvalidJob, JobNotFound
from baton.store.records import Job, JobStatus
from baton.store.units import duration, human_bytes

EXIT_FAILED = 1
EXIT_CANCELLED = 3
EXIT_PAUSED = 4
EXIT_TIMEOUT = 124


def _view(ctx: typer.Context, job_id: str) -> JobView:
    c = ctx_of(ctx)
    job = c.store.find(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return JobView.of(job, c.store.clock.now_ms())


@handles_errors
def status(
    ctx: typer.Context,
    job_id: JobArg,
    json_output: JsonFlag = False,
) -> None:
    """Where a job is: status, health, counters, rate, ETA, lease, last error."""
    view = _view(ctx, job_id)
    shards = _shard_jobs(ctx, view.job)
    if json_output:
        extra = {"shards": [_shard_row(j) for j in shards]} if shards else {}
        print_json({**view.to_dict(), **extra})
        return
    console.print(render_status(view))
    if shards:
        table = Table("shard", "status", "hops", "counters", "last error")
        for j in shards:
            table.add_row(
                j.job_id,
                j.status.value,
                str(j.hops),
                format_counters(j.counters),
                j.last_error or "",
            )
        console.print(table)


def _shard_jobs(ctx: typer.Context, job: Job) -> list[Job]:
    """A fan-out parent's started shards, read live from their own items."""
    store = ctx_of(ctx).store
    return sorted(store.get_many(planned_shards(store, job)), key=lambda j: j.job_id)


def _shard_row(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "hops": job.hops,
        "counters": job.counters,
        "last_error": job.last_error,
    }


def _exit_code(job: Job) -> int:
    return {
        JobStatus.SUCCEEDED: 0,
        JobStatus.FAILED: EXIT_FAILED,
        JobStatus.CANCELLED: EXIT_CANCELLED,
        JobStatus.PAUSED: EXIT_PAUSED,
    }.get(job.status, 0)


def _settled(job: Job) -> bool:
    """Nothing will change without an operator: ended, or PAUSED (only a resume moves it on)."""
    return job.status.terminal or job.status is JobStatus.PAUSED


def _watch_json(ctx: typer.Context, job_id: str, interval: float, timeout: float | None) -> None:
    """`watch --json`: no live display; the job as `status --json` prints it once it settles."""
    started = time.monotonic()
    view = _view(ctx, job_id)
    while not _settled(view.job):
        if timeout is not None and time.monotonic() - started > timeout:
            print_json(view.to_dict())
            fail(f"job {job_id} still {view.job.status.value} after {timeout:g}s", EXIT_TIMEOUT)
        time.sleep(interval)
        view = _view(ctx, job_id)
    print_json(view.to_dict())
    code = _exit_code(view.job)
    if code:
        raise typer.Exit(code)


@handles_errors
def watch(
    ctx: typer.Context,
    job_id: JobArg,
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 2.0,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (exit 124)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Live progress until the job ends or waits PAUSED: exit 0 SUCCEEDED, 1 FAILED,
    3 CANCELLED, 4 PAUSED, 124 timeout."""
    if not 0 < interval < math.inf:
        raise InvalidJob(f"--interval must be a positive number of seconds, got {interval}")
    if timeout is not None and not 0 <= timeout < math.inf:
        raise InvalidJob(f"--timeout must be a number of seconds, got {timeout}")
    if json_output:
        _watch_json(ctx, job_id, interval, timeout)
        return
    view = _view(ctx, job_id)
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]{task.fields[status]:<9}"),
        BarColumn(bar_width=None),
        TaskProgressColumn(),
        TextColumn("{task.fields[figures]}"),
        console=console,
        transient=False,
    )
    bar = progress.add_task("job", total=view.expected_total, status="", figures="")
    last: tuple[float, int] | None = None
    live_rate: float | None = None
    with Live(progress, console=console, refresh_per_second=4, transient=False):
        while True:
            job = view.job
            now = time.monotonic()
            if last is not None and now > last[0]:
                instant = (view.done - last[1]) / (now - last[0])
                live_rate = instant if live_rate is None else 0.7 * live_rate + 0.3 * instant
            last = (now, view.done)
            rate = live_rate if live_rate is not None else view.rate_per_s
            eta = "-"
            if view.expected_total and rate:
                eta = duration(int(max(0, view.expected_total - view.done) / rate * 1000))
            figures = (
                f"{view.done:,} {view.progress_counter or 'steps'}"
                + (f", {human_bytes(job.counters['bytes'])}" if "bytes" in job.counters else "")
                + f" | hops {job.hops} | {rate or 0:,.0f}/s | eta {eta}"
                + f" | {view.verdict.health.value}"
            )
            progress.update(
                bar,
                completed=view.done,
                total=view.expected_total,
                status=job.status.value,
                figures=figures,
            )
            if _settled(job):
                break
            if timeout is not None and now - started > timeout:
                fail(f"job {job_id} still {job.status.value} after {timeout:g}s", EXIT_TIMEOUT)
            time.sleep(interval)
            view = _view(ctx, job_id)
    console.print(render_status(view))
    if view.job.status is JobStatus.PAUSED:
        console.print(f"job {job_id} is PAUSED: `baton resume {job_id}` continues it")
    code = _exit_code(view.job)
    if code:
        raise typer.Exit(code)


def _encode_token(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_token(token: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise InvalidJob("--next-token is not a token `baton list` printed") from None
    if not isinstance(key, dict):
        raise InvalidJob("--next-token is not a token `baton list` printed")
    return key


@handles_errors
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only this status (QUEUED, RUNNING, PAUSED, ...)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page")] = 20,
    next_token: Annotated[str | None, typer.Option(help="Continue after a page")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Jobs by status through the by-status index, newest first."""
    if not 1 <= limit <= 1_000:
        raise InvalidJob("--limit must be between 1 and 1000")
    store = ctx_of(ctx).store
    token: str | None = None
    if status is not None:
        try:
            wanted = JobStatus(status.upper())
        except ValueError:
            names = ", ".join(s.value for s in JobStatus)
            raise InvalidJob(f"unknown status {status!r}; use one of {names}") from None
        start = _decode_token(next_token) if next_token else None
        jobs, last_key = store.list_jobs(wanted, limit=limit, start_key=start)
        token = _encode_token(last_key)
    else:
        if next_token:
            raise InvalidJob("--next-token pages one status: pass --status too")
        jobs = []
        for each in JobStatus:
            page, _ = store.list_jobs(each, limit=limit)
            jobs.extend(page)
        jobs = sorted(jobs, key=lambda j: j.updated_at, reverse=True)[:limit]
    if json_output:
        rows = [
            {
                k: v
                for k, v in j.to_public_dict().items()
                if k
                in (
                    "job_id",
                    "status",
                    "task",
                    "epoch",
                    "hops",
                    "counters",
                    "updated_at",
                    "created_at",
                    "last_error",
                    "parent_id",
                )
            }
            for j in jobs
        ]
        print_json({"jobs": rows, "next_token": token})
        return
    table = Table("job", "status", "task", "hops", "counters", "updated")
    for j in jobs:
        table.add_row(
            j.job_id, j.status.value, j.task, str(j.hops), format_counters(j.counters), j.updated_at
        )
    console.print(table)
    if token:
        console.print(f"more: baton list --status {status} --next-token {token}")


@handles_errors
def history(
    ctx: typer.Context,
    job_id: JobArg,
    json_output: JsonFlag = False,
) -> None:
    """The recent hops as a timeline: when, how long, items done, why each ended."""
    view = _view(ctx, job_id)
    hops = view.job.recent_hops
    if json_output:
        print_json([{**h.to_dict(), "duration_ms": hop_duration_ms(h)} for h in hops])
        return
    if not hops:
        console.print(f"job {job_id} has not finished a hop yet ({view.job.status.value})")
        return
    table = Table("hop", "epoch", "started", "took", "items", "items/s", "ended by", "invocation")
    for h in hops:
        took = hop_duration_ms(h)
        rate = f"{h.items / (took / 1000):,.1f}" if took else "-"
        table.add_row(
            str(h.hop),
            str(h.epoch),
            h.started_at,
            _duration(took),
            f"{h.items:,}",
            rate,
            h.ended_by,
            h.owner,
        )
    console.print(table)
    if view.job.hops > len(hops):
        console.print(f"(the last {len(hops)} of {view.job.hops} hops)")


def _duration(ms: int) -> str:
    if ms < 1_000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return duration(ms)


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(watch)
    app.command(name="list")(list_jobs)
    app.command()(history)
