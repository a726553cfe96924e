"""`baton failed-events`: the on-failure queue's runbook as a command (list, resume, delete).

Lambda sends an async event to the worker's on-failure queue when its retries are spent or the
kill switch (reserved concurrency 0) refused it. The event only names `{job_id, epoch}`; the job
item keeps the cursor, so the fix is always the same: resume the job, then delete the message.
The queue is the stack's `FailedEventsQueueUrl` output, in BATON_FAILED_EVENTS_QUEUE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import typer
from rich.table import Table

from baton.cli.context import CliContext, cli_calls, ctx_of
from baton.cli.failures import handles_errors
from baton.cli.output import console, print_json
from baton.handler.launch import send_event
from baton.store.config import resolve_region
from baton.store.errors import ConfigError, IllegalTransition, InvalidJob
from baton.store.records import Job, JobStatus

QUEUE_ENV = "BATON_FAILED_EVENTS_QUEUE"
RECEIVE_BATCH = 10  # SQS's most per ReceiveMessage
ENDED = (JobStatus.SUCCEEDED, JobStatus.CANCELLED)

QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue",
        envvar=QUEUE_ENV,
        help="Queue URL (the stack's FailedEventsQueueUrl output)",
    ),
]
HoldOption = Annotated[
    int,
    typer.Option(
        help="Seconds the messages read stay hidden from other readers (SQS visibility timeout)",
        min=0,
        max=43_200,
    ),
]
LimitOption = Annotated[int, typer.Option(help="Read at most this many messages", min=1)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


@dataclass(frozen=True)
class FailedEvent:
    """One message of the queue: Lambda's invocation record around the event that failed."""

    message_id: str
    receipt: str
    job_id: str | None  # None: not a baton event (or not readable)
    epoch: int | None
    condition: str
    attempts: int | None
    at: str

    @classmethod
    def parse(cls, message: dict[str, Any]) -> FailedEvent:
        try:
            record = json.loads(message.get("Body", ""))
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        context = record.get("requestContext") or {}
        payload = record.get("requestPayload")
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        epoch = payload.get("epoch") if isinstance(payload, dict) else None
        return cls(
            message_id=message["MessageId"],
            receipt=message["ReceiptHandle"],
            job_id=job_id if isinstance(job_id, str) else None,
            epoch=epoch if isinstance(epoch, int) else None,
            condition=str(context.get("condition", "?")),
            attempts=context.get("approximateInvokeCount"),
            at=str(record.get("timestamp", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "job_id": self.job_id,
            "epoch": self.epoch,
            "condition": self.condition,
            "attempts": self.attempts,
            "at": self.at,
        }


class FailedEventsQueue:
    """Reading and deleting the queue's messages; nothing else touches SQS."""

    def __init__(self, sqs: Any, url: str) -> None:  # an SQS client (no type stubs installed)
        self.sqs = sqs
        self.url = url

    def read(self, hold_s: int, limit: int) -> list[FailedEvent]:
        """Up to `limit` messages, each once; they stay hidden for `hold_s` seconds."""
        seen: dict[str, FailedEvent] = {}
        while len(seen) < limit:
            reply = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(seen)),
                VisibilityTimeout=hold_s,
                # Long polling asks every SQS server: an empty answer then means an empty
                # queue, where a short poll samples a few servers and may miss messages.
                WaitTimeSeconds=1,
            )
            messages = reply.get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = FailedEvent.parse(dict(message))
        return list(seen.values())

    def release(self, events: list[FailedEvent]) -> None:
        """Make messages read but not deleted visible again at once, for the next reader."""
        for start in range(0, len(events), RECEIVE_BATCH):
            batch = events[start : start + RECEIVE_BATCH]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": e.receipt, "VisibilityTimeout": 0}
                    for n, e in enumerate(batch)
                ],
            )

    def delete(self, event: FailedEvent) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=event.receipt)

    def purge(self) -> None:
        self.sqs.purge_queue(QueueUrl=self.url)


def _queue(queue_url: str | None) -> FailedEventsQueue:
    if not queue_url:
        raise ConfigError(
            f"no queue: pass --queue or set {QUEUE_ENV} to the stack's FailedEventsQueueUrl output"
        )
    sqs = boto3.session.Session(region_name=resolve_region()).client("sqs", config=cli_calls())
    return FailedEventsQueue(sqs, queue_url)


def _status_now(c: CliContext, job_id: str | None) -> str:
    if job_id is None:
        return "-"
    job = c.store.find(job_id)
    return "gone" if job is None else f"{job.status.value} at epoch {job.epoch}"


@handles_errors
def list_events(
    ctx: typer.Context,
    queue: QueueOption = None,
    hold: HoldOption = 30,
    limit: LimitOption = 100,
    json_output: JsonFlag = False,
) -> None:
    """List the failed events and the state of each job now (messages stay in the queue)."""
    c = ctx_of(ctx)
    q = _queue(queue)
    events = q.read(hold, limit)
    q.release(events)
    rows = [{**e.to_dict(), "job_now": _status_now(c, e.job_id)} for e in events]
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print("no failed events")
        return
    table = Table("job", "epoch", "why", "attempts", "at", "job now")
    for row in rows:
        table.add_row(
            str(row["job_id"] or "(not a baton event)"),
            str(row["epoch"]),
            row["condition"],
            str(row["attempts"]),
            row["at"],
            row["job_now"],
        )
    console.print(table)
    console.print(f"{len(rows)} message(s); `baton failed-events resume` resumes their jobs")


def _settle(c: CliContext, job_id: str) -> tuple[str, bool]:
    """Resume the job behind a failed event; (what happened, whether its messages can go)."""
    job = c.store.find(job_id)
    if job is None:
        return "job gone (expired or never created)", True
    if job.status in ENDED:
        return f"already {job.status.value}", True
    if job.status is JobStatus.PAUSED:
        # An operator paused it after the event failed: the runbook must not undo that.
        return f"left PAUSED (`baton resume {job_id}` continues it)", True
    requested = job.requested_stop
    if requested is not None:
        # An operator asked for a pause or cancel the holder never got to honour (it died with
        # the request on the item): carry it out, never resume past it.
        return _carry_out(c, job, requested)
    try:
        resumed = c.store.resume(job_id)
    except IllegalTransition as exc:
        if job.lease_owner is not None:
            return f"running again ({exc})", True
        return f"not resumed: {exc}", False
    send_event(c.lambda_client, c.relay_settings.function_name, resumed)
    return f"resumed at epoch {resumed.epoch}", True


def _carry_out(c: CliContext, job: Job, requested: JobStatus) -> tuple[str, bool]:
    """Apply the request a job carries instead of resuming it (as the watchdog would)."""
    job_id = job.job_id
    settled = c.store.settle_requests(job)
    if settled is not None:
        job = settled
    if job.status is JobStatus.PAUSED:
        return f"PAUSED as requested before it failed (`baton resume {job_id}` continues it)", True
    if job.status is JobStatus.CANCELLED:
        return "CANCELLED as requested before it failed", True
    return (
        f"not resumed: it carries a {requested.value.lower()} request, carried out at its "
        f"holder's next commit or by the watchdog once the lease ends",
        True,
    )


@handles_errors
def resume_events(
    ctx: typer.Context,
    queue: QueueOption = None,
    hold: HoldOption = 300,
    limit: LimitOption = 1_000,
    json_output: JsonFlag = False,
) -> None:
    """Resume the job behind each failed event from its last checkpoint, then delete the
    message; a message whose job could not be resumed stays in the queue."""
    c = ctx_of(ctx)
    fn = c.relay_settings.function_name
    reserved = c.lambda_client.get_function_concurrency(FunctionName=fn).get(
        "ReservedConcurrentExecutions"
    )
    if reserved == 0:
        raise IllegalTransition(
            f"the kill switch is on ({fn} has reserved concurrency 0): a resumed job's event would "
            f"land in this queue again; run `baton kill-switch off` first"
        )
    q = _queue(queue)
    events = q.read(hold, limit)
    outcomes: dict[str, tuple[str, bool]] = {}
    results = []
    kept_events = []
    for event in events:
        if event.job_id is None:
            results.append({**event.to_dict(), "outcome": "not a baton event", "deleted": False})
            kept_events.append(event)
            continue
        if event.job_id not in outcomes:
            outcomes[event.job_id] = _settle(c, event.job_id)
        what, done = outcomes[event.job_id]
        if done:
            q.delete(event)
        else:
            kept_events.append(event)
        results.append({**event.to_dict(), "outcome": what, "deleted": done})
    q.release(kept_events)
    if json_output:
        print_json(results)
        return
    if not results:
        console.print("no failed events")
        return
    for job_id, (what, done) in outcomes.items():
        console.print(f"{job_id}: {what}{'' if done else ' (message kept)'}")
    kept = sum(1 for r in results if not r.get("deleted"))
    console.print(f"{len(results) - kept} message(s) deleted, {kept} kept")


@handles_errors
def delete_events(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str] | None, typer.Argument(help="Delete the messages of these jobs")
    ] = None,
    all_messages: Annotated[
        bool, typer.Option("--all", help="Purge the whole queue (at most once a minute)")
    ] = False,
    queue: QueueOption = None,
    hold: HoldOption = 30,
    limit: LimitOption = 1_000,
    json_output: JsonFlag = False,
) -> None:
    """Delete failed events without resuming anything: of the named jobs, or all of them."""
    if bool(job_ids) == all_messages:
        raise InvalidJob("name the jobs whose messages to delete, or pass --all (not both)")
    q = _queue(queue)
    if all_messages:
        q.purge()
        if json_output:
            print_json({"purged": True})
        else:
            console.print("queue purged (SQS takes up to 60 s to finish)")
        return
    wanted = set(job_ids or [])
    deleted = 0
    others = []
    for event in q.read(hold, limit):
        if event.job_id in wanted:
            q.delete(event)
            deleted += 1
        else:
            others.append(event)
    q.release(others)
    if json_output:
        print_json({"deleted": deleted})
    else:
        console.print(f"{deleted} message(s) deleted")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="failed-events",
        help="The worker's on-failure queue: list the events, resume their jobs, delete them.",
        no_args_is_help=True,
    )
    group.command("list")(list_events)
    group.command("resume")(resume_events)
    group.command("delete")(delete_events)
    app.add_typer(group)
