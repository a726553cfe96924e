"""What a job leaves when it ends: the error it fails with, its summary and its report.

None of it may block the end itself: a summary or report that cannot be made is replaced by a
line saying why, and the job ends all the same.
"""

from __future__ import annotations

from typing import Any

from baton.handler import faults
from baton.handler.hop import Hop
from baton.handler.observability import logger
from baton.handler.runtime import Runtime
from baton.store.codec import s3_error_code
from baton.store.last_error import with_advice
from baton.store.records import Counters, Ending, Job, JobStatus

NO_STATE_BUCKET = (
    "no report written: BATON_STATE_BUCKET is not set on the worker (`baton init` creates a "
    "state bucket); only this summary is kept (the last failures among it)"
)


def report_error(exc: Exception, bucket: str) -> str:
    """Why an ended job has no report, for its summary (the end itself goes ahead)."""
    if s3_error_code(exc) == "NoSuchBucket":
        why = (
            f"the state bucket {bucket!r} (BATON_STATE_BUCKET) does not exist; create it with "
            f"`baton init` or deploy the stack"
        )
    else:
        why = f"{type(exc).__name__}: {exc}"
    message = f"no report written: {why}; only this summary is kept (the last failures among it)"
    return message[:1_000]


def final_error(job: Job, error: str) -> str:
    """The error a job ends FAILED with: what failed, in which task, and what to do next.

    The exception's text is cut first, so the task and the advice always fit in `last_error`.
    """
    advice = (
        f" (task {job.task!r}; the last commit is kept, nothing after it: fix the cause, then "
        f"`baton resume {job.job_id}` goes on from there)"
    )
    return with_advice(error, advice)


def job_ending(
    rt: Runtime, hop: Hop, status: JobStatus, error: str | None = None, *, committed: bool = False
) -> Ending:
    """The summary and report a job leaves when it ends; their failure never blocks the end.

    `committed`: the ending write keeps the last commit's state and counters (a failure),
    so the summary and report describe that commit, not the hop's work after it, which a
    resume does again.
    """
    task = hop.task
    state, counters = hop.state, hop.counters
    if committed:
        state, counters = last_commit(rt, hop)
    summary: dict[str, Any] = {}
    lines: list[dict[str, Any]] = []
    if task is not None and state is not None:
        try:
            summary = task.summary(state)
            lines = list(task.report(state))
        except faults.SandboxGone:
            raise
        except BaseException:  # an exit raised by the task's code, too: the job still ends
            logger.exception("the task's summary or report failed; ending without it")
    reports = rt.reports
    if reports is None:
        if lines:  # the lines (failed items, results) are lost: the item says why
            summary = {"report_error": NO_STATE_BUCKET, **summary}
        return Ending(summary=summary)
    try:
        ref = reports.write_ended(hop.job, status, counters, error, summary, lines)
    except Exception as exc:
        logger.exception("the job report could not be written; ending without it")
        return Ending(summary={"report_error": report_error(exc, reports.bucket), **summary})
    return Ending(summary=summary, report_ref=ref)


def last_commit(rt: Runtime, hop: Hop) -> tuple[Any, Counters]:
    """The task state and counters of the job's last commit (None: no state committed yet,
    or it cannot be read)."""
    job = hop.holder.job
    if not job.has_state:
        return None, dict(job.counters)
    try:
        return rt.store.load_state(job), dict(job.counters)
    except Exception:
        logger.exception("the committed state could not be read for the job's summary")
        return None, dict(job.counters)
