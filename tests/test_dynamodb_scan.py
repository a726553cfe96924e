"""dynamodb-scan: every item once, in segments or not, through kills, duplicates and throttling.

In process (moto, the real relay, LambdaSim, a virtual clock); the 50,000-item run on the local
stack is in tests/test_local_tasks.py (marked slow).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler import faults
from baton.handler.tasks.builtin.dynamodb_scan import DynamoDBScan
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support import table_actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.inprocess_stack import REGION, TEST_ACTIONS, Stack, local_stack
from tests.support.lambda_sim import KillAt
from tests.test_operator import operate

TABLE = "users"
ACTIONS = (TEST_ACTIONS, "tests.support.table_actions")
BACKFILL = "tests.support.table_actions:backfill"
RECORD = "tests.support.table_actions:record"
ITEMS = 600
runner = CliRunner()


def fill_table(client: Any, name: str, count: int, *, range_key: bool = False) -> set[str]:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    client.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
    )
    keys = {f"user-{i:06d}" for i in range(count)}
    batch: list[dict[str, Any]] = []
    for i, pk in enumerate(sorted(keys)):
        item = {"pk": {"S": pk}, "n": {"N": str(i)}}
        if range_key:
            item["sk"] = {"N": str(i % 3)}
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            client.batch_write_item(RequestItems={name: batch})
            batch = []
    if batch:
        client.batch_write_item(RequestItems={name: batch})
    return keys


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    table_actions.reset()
    with local_stack(timeout_ms=1_500, action_modules=ACTIONS) as s:
        operate(s, monkeypatch)
        yield s


def drain_with_watchdog(stack: Stack, parent: str, *, every: int = 25, limit: int = 4_000) -> None:
    """Deliver every event twice, and every `every` deliveries let minutes pass and the
    watchdog sweep: a chain whose retries a run of kills used up is restarted, as on AWS,
    while the parent keeps polling (its own chain never lets the queue run dry)."""
    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    stall_ms = WatchdogSettings().stall_after_s * 1000 + 1
    for n in range(limit):
        if stack.job(parent).status.terminal:
            return
        if not stack.sim.queue or n % every == every - 1:
            stack.clock.advance(stall_ms)
            dog.sweep()
            assert stack.sim.queue, "nothing left to deliver and the job has not ended"
            continue
        delivery = stack.sim.queue.popleft()
        stack.sim.deliver(delivery)
        stack.sim.deliver(delivery)
    raise AssertionError(f"{parent} did not end within {limit} deliveries")


def ddb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def test_a_table_larger_than_a_hop_is_scanned_once_with_exact_counters(stack: Stack) -> None:
    keys = fill_table(ddb(), TABLE, ITEMS)
    stack.start({"source_table": TABLE, "action": RECORD}, task="dynamodb-scan", job_id="one")
    stack.sim.drain()

    job = stack.job("one")
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.hops >= 5, "the table takes many hops"
    assert job.counters["items"] == ITEMS
    assert set(table_actions.seen) == keys and set(table_actions.seen.values()) == {1}
    assert job.summary["table"] == TABLE
    check_one_holder_no_fork(stack.commits)


def test_four_segments_with_kills_and_duplicates_count_every_item_once(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    table_actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n in (120, 330, 560))
    with local_stack(timeout_ms=1_500, action_modules=ACTIONS, faults=kill) as stack:
        operate(stack, monkeypatch)
        keys = fill_table(ddb(), TABLE, ITEMS)
        stack.start(
            {"source_table": TABLE, "segments": 4, "poll_s": 2},
            task="dynamodb-scan",
            job_id="seg",
        )
        drain_with_watchdog(stack, "seg")

        parent = stack.job("seg")
        assert parent.status is JobStatus.SUCCEEDED, parent.last_error
        assert kill.kills >= 3
        assert parent.counters["items"] == len(keys), "every item counted exactly once"
        assert parent.counters["shards_succeeded"] == 4
        state = stack.store.load_state(parent)
        shards = stack.store.get_many([s["id"] for s in state["shards"]])
        assert sorted(s.params["segment"] for s in shards) == [0, 1, 2, 3]
        assert all(s.parent_id == "seg" and s.task == "dynamodb-scan" for s in shards)
        assert all(s.counters["items"] > 0 for s in shards), "moto spreads keys over segments"
        check_one_holder_no_fork(stack.commits)

        # One view: `baton status` on the parent shows its shards.
        result = runner.invoke(app, ["status", "seg", "--json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.output)["shards"]) == 4


def test_a_backfill_leaves_every_item_updated_once_through_kills(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    table_actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n in (100, 310, 520))
    with local_stack(timeout_ms=1_500, action_modules=ACTIONS, faults=kill) as stack:
        operate(stack, monkeypatch)
        client = ddb()
        keys = fill_table(client, TABLE, ITEMS, range_key=True)
        stack.start(
            {
                "source_table": TABLE,
                "segments": 3,
                "action": BACKFILL,
                "action_params": {"value": "v2"},
            },
            task="dynamodb-scan",
            job_id="bf",
        )
        drain_with_watchdog(stack, "bf")

        parent = stack.job("bf")
        assert parent.status is JobStatus.SUCCEEDED, parent.last_error
        assert kill.kills >= 3
        items = client.get_paginator("scan").paginate(TableName=TABLE).build_full_result()
        by_key = {i["pk"]["S"]: i for i in items["Items"]}
        assert set(by_key) == keys
        assert all(i["migrated"] == {"S": "v2"} for i in by_key.values())
        assert {i["writes"]["N"] for i in by_key.values()} == {"1"}, "each item written once"
        counters = parent.counters
        assert counters["items"] == ITEMS
        # A killed hop's writes landed but its counters did not: the retry finds them done.
        assert counters["migrated"] + counters.get("already_migrated", 0) == ITEMS
        assert counters.get("already_migrated", 0) >= 1


def test_throttling_is_backed_off_and_counted_never_failing_the_job(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttles answered by the (moto) service itself, inside botocore's retry loop."""
    table_actions.reset()
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
    )
    calls = {"scan": 0}

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        """Registered for Scan only: throttle some calls, as the service would."""
        calls["scan"] += 1
        if calls["scan"] not in (1, 2, 3, 6, 7, 8):  # botocore makes 3 attempts here
            return None
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput was exceeded",
            }
        ).encode()
        return AWSResponse("https://dynamodb.local", 400, {}, _Raw(body))

    # First, ahead of moto's own before-send handler, inside botocore's retry loop.
    client.meta.events.register_first("before-send.dynamodb.Scan", throttle)
    with local_stack(timeout_ms=1_500, action_modules=ACTIONS, dynamodb=client) as stack:
        operate(stack, monkeypatch)
        keys = fill_table(client, TABLE, 200)
        stack.start({"source_table": TABLE}, task="dynamodb-scan", job_id="thr")
        stack.sim.drain()
        job = stack.job("thr")

    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.counters["items"] == len(keys)
    assert job.counters.get("throttled") == 2, "each throttle botocore gave up on is counted"
    assert calls["scan"] > 8


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body

    def read(self, *_: Any) -> bytes:
        return self.body


def test_a_filter_visits_only_matching_items(stack: Stack) -> None:
    fill_table(ddb(), TABLE, 400)
    stack.start(
        {
            "source_table": TABLE,
            "action": RECORD,
            "filter": "n < :cut",
            "filter_values": {":cut": {"N": "150"}},
        },
        task="dynamodb-scan",
        job_id="filtered",
    )
    stack.sim.drain()
    job = stack.job("filtered")
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.counters["items"] == 150
    assert set(table_actions.seen) == {f"user-{i:06d}" for i in range(150)}
    assert job.counters["scanned"] >= 400


def test_items_deleted_ahead_are_skipped_and_items_kept_are_visited_once(stack: Stack) -> None:
    client = ddb()
    keys = sorted(fill_table(client, TABLE, 300))
    gone = set(keys[200:220])

    def delete_ahead() -> None:
        for pk in gone:
            client.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})

    # Deleted while the scan is at item 100 (moto scans in key order).
    table_actions.hooks[keys[100]] = delete_ahead
    stack.start({"source_table": TABLE, "action": RECORD}, task="dynamodb-scan", job_id="del")
    stack.sim.drain()
    job = stack.job("del")
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert set(table_actions.seen) == set(keys) - gone
    assert set(table_actions.seen.values()) == {1}
    assert job.counters["items"] == len(keys) - len(gone)


def test_a_missing_table_fails_the_job_with_its_name(stack: Stack) -> None:
    stack.start({"source_table": "no-such-table"}, task="dynamodb-scan", job_id="missing")
    stack.sim.drain()
    job = stack.job("missing")
    assert job.status is JobStatus.FAILED
    assert "'no-such-table' does not exist" in (job.last_error or "")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, "needs source_table"),
        ({"source_table": "t!"}, "source_table must be a DynamoDB table name"),
        ({"source_table": "tbl", "segments": 0}, "segments must be a whole number"),
        ({"source_table": "tbl", "action": "inventory"}, "not a module:function"),
        ({"source_table": "tbl", "action": "evil.mod:run"}, "'evil.mod' is not allowed"),
        ({"source_table": "tbl", "filter_values": {":a": {"N": "1"}}}, "needs a filter"),
        ({"source_table": "tbl", "segments": 2, "segment": 0}, "not both"),
        ({"source_table": "tbl", "segment": 4, "total_segments": 4}, "segment must be"),
        ({"source_table": "tbl", "bucket": "b"}, "does not take bucket"),
    ],
)
def test_bad_parameters_are_refused_with_the_reason(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidJob, match=problem):
        DynamoDBScan.validate(params, ACTIONS)


def test_the_cli_starts_a_segmented_scan(stack: Stack) -> None:
    fill_table(ddb(), TABLE, 50)
    result = runner.invoke(
        app,
        [
            "start",
            "dynamodb-scan",
            "--source-table",
            TABLE,
            "--segments",
            "2",
            "--filter",
            "n >= :lo",
            "--filter-values",
            '{":lo": {"N": "10"}}',
            "--job-id",
            "cli",
        ],
    )
    assert result.exit_code == 0, result.output
    stack.sim.drain()
    job = stack.job("cli")
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.counters["items"] == 40
    assert job.params["segments"] == 2


def test_a_slow_scan_call_does_not_shrink_the_pages(aws: None) -> None:
    """Each Scan call costs a fixed 400 ms (as a call on a large table does on a slow service):
    pages are sized from the time per item measured after the call, so a hop reads a few large
    pages. Spreading the call's time over a page's items made the small page at the end of one
    hop look slow per item, and the next hop began with a tiny page, and paid the call again."""
    table_actions.reset()
    client = boto3.client("dynamodb", region_name=REGION)
    clock: dict[str, Any] = {}
    limits: list[int] = []

    def slow_call(params: dict[str, Any], **_: Any) -> None:
        limits.append(int(params.get("Limit", 0)))
        clock["clock"].advance(400)

    client.meta.events.register("before-parameter-build.dynamodb.Scan", slow_call)
    with local_stack(timeout_ms=3_000, action_modules=ACTIONS, dynamodb=client) as stack:
        clock["clock"] = stack.clock
        keys = fill_table(client, TABLE, 800)
        stack.start({"source_table": TABLE}, task="dynamodb-scan", job_id="slow")
        stack.sim.drain()
        job = stack.job("slow")

    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.counters["items"] == len(keys)
    # One page fills a hop (about 70 items here), and no page is cut down to a few items
    # (before: 38 calls in 19 hops, pages of 1 to 30 items).
    assert len(limits) <= job.hops + 1, f"{len(limits)} Scan calls in {job.hops} hops: {limits}"
    assert min(limits) >= 50, limits
