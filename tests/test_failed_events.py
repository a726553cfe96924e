"""`baton failed-events`: the on-failure queue's runbook, against moto's SQS and the real relay."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.store.lease_holder import LeaseHolder
from baton.store.records import JobStatus
from tests.iam_scenarios import REGION, WALK_BUCKET, World, world
from tests.support.audit import check_one_holder_no_fork

runner = CliRunner()
OBJECTS = 18  # what iam_scenarios puts in WALK_BUCKET


@pytest.fixture
def w() -> Iterator[World]:
    with warnings.catch_warnings(), mock_aws(), world() as deployed:
        warnings.simplefilter("ignore", UserWarning)
        yield deployed


def refused(w: World, *job_ids: str) -> None:
    """Start walks whose first events the kill switch sends to the queue."""
    w.baton("kill-switch", "on")
    w.stack.sim.lose = lambda event: True
    for job_id in job_ids:
        w.baton(
            "start", "s3-walk", "--bucket", WALK_BUCKET, "--action", "count", "--job-id", job_id
        )
    w.drain()
    w.stack.sim.lose = lambda event: False
    w.baton("kill-switch", "off")


def queued(w: World) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=w.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def visible(w: World) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=w.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def send_raw(w: World, body: str) -> None:
    boto3.client("sqs", region_name=REGION).send_message(QueueUrl=w.queue_url, MessageBody=body)


def baton(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_list_shows_each_event_and_leaves_it_for_the_next_reader(w: World) -> None:
    refused(w, "a", "b")
    listed = w.baton_json("failed-events", "list")
    assert sorted((e["job_id"], e["epoch"], e["job_now"]) for e in listed) == [
        ("a", 1, "QUEUED at epoch 1"),
        ("b", 1, "QUEUED at epoch 1"),
    ]
    assert {e["condition"] for e in listed} == {"RetriesExhausted"}
    # Listing hides nothing: the messages are visible again at once.
    assert visible(w) == 2
    assert len(w.baton_json("failed-events", "list")) == 2
    assert "2 message(s)" in w.baton("failed-events", "list").stdout


def test_resume_runs_each_job_once_from_its_cursor_and_deletes_its_messages(w: World) -> None:
    refused(w, "a", "b")
    # Lambda's destination can deliver a record twice: one resume per job all the same.
    duplicate = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=w.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
    )["Messages"][0]
    send_raw(w, duplicate["Body"])
    results = w.baton_json("failed-events", "resume")
    assert len(results) == 3 and all(r["deleted"] for r in results)
    assert sorted({r["outcome"] for r in results}) == ["resumed at epoch 2"]
    assert len(w.stack.sim.queue) == 2, "one event per job"
    w.drain()
    for job_id in ("a", "b"):
        job = w.job(job_id)
        assert job.status is JobStatus.SUCCEEDED and job.epoch == 2
        assert job.counters["objects"] == OBJECTS
    assert queued(w) == 0


def test_events_of_ended_or_running_jobs_are_deleted_without_a_second_chain(w: World) -> None:
    refused(w, "done", "moving")
    w.baton("resume", "done")  # the operator resumed it by hand, before the runbook
    w.drain()
    assert w.job("done").status is JobStatus.SUCCEEDED
    w.baton("resume", "moving")
    results = {r["job_id"]: r for r in w.baton_json("failed-events", "resume")}
    assert results["done"]["outcome"] == "already SUCCEEDED" and results["done"]["deleted"]
    # "moving" was QUEUED at epoch 2 with its event in flight: resuming it again fences that
    # event off (epoch 3), so one chain runs.
    assert results["moving"]["outcome"] == "resumed at epoch 3"
    w.drain()
    moving = w.job("moving")
    assert moving.status is JobStatus.SUCCEEDED and moving.counters["objects"] == OBJECTS
    check_one_holder_no_fork(w.stack.commits)
    assert queued(w) == 0


def test_a_message_that_cannot_be_settled_stays(w: World) -> None:
    refused(w, "tight")
    send_raw(w, "not json at all")
    # The job ran out of hops: resume refuses, so the message stays for the operator.
    w.stack.store.model(job_id="tight").update(actions=[w.stack.store.model.hops.set(1000)])
    results = w.baton_json("failed-events", "resume")
    by_job = {r["job_id"]: r for r in results}
    assert by_job["tight"]["deleted"] is False
    assert "hops" in by_job["tight"]["outcome"]
    assert by_job[None]["outcome"] == "not a baton event" and by_job[None]["deleted"] is False
    assert visible(w) == 2, "kept messages are released at once"


def test_resume_is_refused_while_the_kill_switch_is_on(w: World) -> None:
    refused(w, "a")
    w.baton("kill-switch", "on")
    result = baton("failed-events", "resume")
    assert result.exit_code == 1
    assert "kill switch is on" in result.output and "kill-switch off" in result.output
    assert w.job("a").epoch == 1 and queued(w) == 1


def test_delete_named_jobs_or_everything(w: World) -> None:
    refused(w, "a", "b", "c")
    assert w.baton_json("failed-events", "delete", "a", "b") == {"deleted": 2}
    assert [e["job_id"] for e in w.baton_json("failed-events", "list")] == ["c"]
    assert w.job("a").status is JobStatus.QUEUED, "deleting resumes nothing"
    w.baton("failed-events", "delete", "--all")
    assert queued(w) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["failed-events", "delete"], "name the jobs"),
        (["failed-events", "delete", "a", "--all"], "name the jobs"),
    ],
)
def test_bad_usage_is_explained(w: World, args: list[str], message: str) -> None:
    result = baton(*args)
    assert result.exit_code == 2 and message in result.output


def test_without_a_queue_the_command_says_where_to_find_it(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATON_FAILED_EVENTS_QUEUE")
    result = baton("failed-events", "list")
    assert result.exit_code == 2
    assert "BATON_FAILED_EVENTS_QUEUE" in result.output and "FailedEventsQueueUrl" in result.output


def test_list_reads_past_one_receive_batch_and_honours_limit(w: World) -> None:
    for n in range(25):
        body = {"requestContext": {"condition": "EventAgeExceeded"}, "requestPayload": {}}
        body["requestPayload"] = {"job_id": f"j{n:02d}", "epoch": 1}
        send_raw(w, json.dumps(body))
    listed = w.baton_json("failed-events", "list")
    assert sorted(e["job_id"] for e in listed) == [f"j{n:02d}" for n in range(25)]
    assert {e["job_now"] for e in listed} == {"gone"}
    assert len(w.baton_json("failed-events", "list", "--limit", "5")) == 5
    # Their jobs are gone (expired): resume deletes the messages, resuming nothing.
    results = w.baton_json("failed-events", "resume")
    assert {r["outcome"] for r in results} == {"job gone (expired or never created)"}
    assert queued(w) == 0


def test_a_job_an_operator_paused_since_stays_paused(w: World) -> None:
    refused(w, "held")
    w.baton("pause", "held")
    results = w.baton_json("failed-events", "resume")
    assert [r["outcome"] for r in results] == ["left PAUSED (`baton resume held` continues it)"]
    assert w.job("held").status is JobStatus.PAUSED
    assert len(w.stack.sim.queue) == 0, "no event sent"
    assert queued(w) == 0


def test_resume_carries_out_a_pause_its_dead_holder_never_honoured(w: World) -> None:
    """Pause a RUNNING job (the flag is set); its holder dies while the kill switch is on, so the
    retries go to the queue. The runbook must carry the accepted pause out, not resume past it."""
    refused(w, "paused")
    store = w.stack.store
    now = store.clock.now_ms()
    held = store.claim("paused", 1, "dead/000000", now + 60_000)
    assert isinstance(held, LeaseHolder) and store.get("paused").status is JobStatus.RUNNING
    asked = store.request_pause("paused")
    assert asked.status is JobStatus.RUNNING and asked.pause_requested  # a flag for the holder
    w.stack.clock.advance(120_000)  # the holder died: its lease ends
    results = w.baton_json("failed-events", "resume")
    assert [r["outcome"] for r in results] == [
        "PAUSED as requested before it failed (`baton resume paused` continues it)"
    ]
    w.drain()
    job = w.job("paused")
    assert job.status is JobStatus.PAUSED and job.epoch == 1 and queued(w) == 0
    w.baton("resume", "paused")
    w.drain()
    done = w.job("paused")
    assert done.status is JobStatus.SUCCEEDED and done.counters["objects"] == OBJECTS
