"""Fan-out: one bucket as many parallel chains, no object in two shards, one progress view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler import faults
from baton.handler.children import planned_shards
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import KillAt
from tests.support.lost_answers import LoseAnswers, install
from tests.test_operator import operate

BUCKET = "fan-bucket"
RECORD = "tests.support.actions:record"
runner = CliRunner()


def keys() -> list[str]:
    out = [f"p{d}/{i:03d}.dat" for d in range(10) for i in range(40)]
    out += ["a-root.txt", "p3-between.txt", "p5.txt", "p7!odd", "zz-last.txt", "p0"]
    return out


@pytest.fixture(scope="module")
def bucket() -> Iterator[dict[str, int]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sizes = {}
        for n, key in enumerate(keys()):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"y" * (n % 50))
            sizes[key] = n % 50
        yield sizes


@pytest.fixture
def stack(bucket: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    actions.reset()
    with local_stack(timeout_ms=1_500) as s:
        operate(s, monkeypatch)
        yield s


def start_parent(stack: Stack, job_id: str, **params: Any) -> None:
    # One object at a time: "processed once" below is about shards never overlapping.
    base = {
        "bucket": BUCKET,
        "action": RECORD,
        "max_concurrency": 3,
        "poll_s": 2,
        "concurrency": 1,
    }
    stack.start({**base, **params}, task="s3-fanout", job_id=job_id)


def children(stack: Stack, parent: str) -> list[Any]:
    state = stack.store.load_state(stack.job(parent))
    return stack.store.get_many([s["id"] for s in state["shards"]])


def max_running(stack: Stack, parent: str) -> int:
    """The most shards open at once, replayed from the commit record."""
    open_now: set[str] = set()
    peak = 0
    for c in stack.commits:
        if not c.job_id.startswith(parent + ".s"):
            continue
        if c.op == "create":
            open_now.add(c.job_id)
        elif c.op in ("finish", "fail", "cancelled"):
            open_now.discard(c.job_id)
        peak = max(peak, len(open_now))
    return peak


def test_a_bucket_split_by_delimiter_is_walked_once_in_parallel_shards(
    stack: Stack, bucket: dict[str, int]
) -> None:
    start_parent(stack, "fan", split="delimiter", shards=8)
    stack.sim.drain()

    parent = stack.job("fan")
    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    shards = children(stack, "fan")
    assert len(shards) == 10, "one shard per common prefix p0/ .. p9/"
    assert all(s.parent_id == "fan" and s.status is JobStatus.SUCCEEDED for s in shards)
    assert set(actions.seen) == set(bucket), "every object, root-level ones included"
    assert set(actions.seen.values()) == {1}, "no object processed by two shards"
    assert parent.counters["objects"] == len(bucket)
    assert parent.counters["bytes"] == sum(bucket.values())
    assert parent.counters["shards_succeeded"] == 10
    assert max_running(stack, "fan") <= 3, "the concurrency cap holds"
    assert parent.summary["by_status"] == {"SUCCEEDED": 10}
    check_one_holder_no_fork(stack.commits)


def drain_with_watchdog(stack: Stack, parent: str, rounds: int = 10) -> None:
    """Deliver everything; when a chain is stuck (its retries spent), let the watchdog act."""
    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    for _ in range(rounds):
        stack.sim.drain(duplicate=True)
        if stack.job(parent).status.terminal:
            return
        stack.clock.advance(WatchdogSettings().stall_after_s * 1000 + 1)
        dog.sweep()


def test_kills_and_duplicate_events_change_nothing(
    bucket: dict[str, int], monkeypatch: Any
) -> None:
    actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n % 131 == 0)
    with local_stack(timeout_ms=1_500, faults=kill) as stack:
        operate(stack, monkeypatch)
        start_parent(stack, "rough", split="delimiter", shards=8, max_concurrency=4)
        drain_with_watchdog(stack, "rough")

        parent = stack.job("rough")
        assert parent.status is JobStatus.SUCCEEDED, parent.last_error
        assert kill.kills >= 3
        assert parent.counters["objects"] == len(bucket)
        assert parent.counters["recorded"] == len(bucket)
        assert sum(s.counters["objects"] for s in children(stack, "rough")) == len(bucket)
        assert set(actions.seen) == set(bucket)
        check_one_holder_no_fork(stack.commits)


def test_explicit_ranges_and_prefixes(stack: Stack, bucket: dict[str, int]) -> None:
    start_parent(stack, "ranges", split="ranges", boundaries=["p2/", "p5", "p8/020.dat"])
    start_parent(stack, "prefixes", split="prefixes", prefixes=["p1/", "p4/", "p9/"])
    stack.sim.drain()
    assert stack.job("ranges").counters["objects"] == len(bucket)
    assert len(children(stack, "ranges")) == 4
    under = sum(1 for k in bucket if k.startswith(("p1/", "p4/", "p9/")))
    assert stack.job("prefixes").counters["objects"] == under == 120


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"split": "prefixes", "prefixes": ["a/", "a/b/"]}, "overlap"),
        ({"split": "prefixes"}, "needs prefixes"),
        ({"split": "ranges", "boundaries": ["b", "a"]}, "ascending"),
        ({"split": "hash"}, "split must be one of"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"end_before": "x"}, "does not take end_before"),
    ],
)
def test_bad_fan_out_parameters(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidJob, match=problem):
        FanOut.validate({"bucket": BUCKET, **params}, ())


def test_resuming_the_parent_reruns_only_the_failed_shards(
    stack: Stack, bucket: dict[str, int]
) -> None:
    actions.fail_always.update({"p2/007.dat", "p7/030.dat"})
    base = {"bucket": BUCKET, "action": RECORD, "max_concurrency": 4, "poll_s": 2}
    stack.start(
        {**base, "split": "delimiter", "child_max_attempts": 1}, task="s3-fanout", job_id="redo"
    )
    stack.sim.drain()
    failed = stack.job("redo")
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None and "2 of 10 shards did not succeed" in failed.last_error
    bad = {s.job_id for s in children(stack, "redo") if s.status is JobStatus.FAILED}
    assert len(bad) == 2
    # The FAILED parent's counters and summary are its shards' as they ended, not a poll ago.
    shards = children(stack, "redo")
    for name in ("objects", "bytes", "failed"):
        assert failed.counters.get(name, 0) == sum(s.counters.get(name, 0) for s in shards), name
    assert (failed.counters["shards_failed"], failed.counters["shards_succeeded"]) == (2, 8)
    assert failed.summary["by_status"] == {"SUCCEEDED": 8, "FAILED": 2}

    actions.fail_always.clear()
    mark = len(stack.commits)
    result = runner.invoke(app, ["resume", "redo", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["shards"].values()).count("left SUCCEEDED") == 8
    stack.sim.drain()

    done = stack.job("redo")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.last_error is None, "the error the resume got past is not shown on a success"
    assert done.counters["objects"] == len(bucket)
    claimed_after = {c.job_id for c in stack.commits[mark:] if c.op == "claim"}
    assert claimed_after == bad | {"redo"}, "only the failed shards (and the parent) ran again"


def test_cancel_and_status_on_the_parent_reach_every_shard(
    stack: Stack, bucket: dict[str, int]
) -> None:
    start_parent(stack, "stopme", split="delimiter", max_concurrency=2)
    for _ in range(6):
        stack.sim.deliver(stack.sim.queue.popleft())
    status = json.loads(runner.invoke(app, ["status", "stopme", "--json"]).stdout)
    assert status["counters"]["shards"] == 10
    started = {s["job_id"] for s in status["shards"]}
    assert 2 <= len(started) < 10 and all(j.startswith("stopme.s") for j in started)
    running = [s for s in status["shards"] if s["status"] in ("QUEUED", "RUNNING")]
    assert len(running) <= 2

    result = runner.invoke(app, ["cancel", "stopme", "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)["shards"]
    assert len(outcome) == 10, "every planned shard is reached"
    assert {j for j, what in outcome.items() if what != "never started"} == started
    stack.sim.drain()
    assert stack.job("stopme").status is JobStatus.CANCELLED
    after = {
        c.job_id for c in stack.commits if c.op == "create" and c.job_id.startswith("stopme.s")
    }
    assert after == started, "no shard started after the cancel"
    for shard in stack.store.get_many(sorted(started)):
        assert shard.status in (JobStatus.CANCELLED, JobStatus.SUCCEEDED)


def test_a_cancel_cut_short_is_finished_by_running_it_again(
    stack: Stack, bucket: dict[str, int]
) -> None:
    """The cascade can be cut short (the operator's connection drops after the parent's cancel):
    `baton cancel PARENT` again is no error and reaches the shards still running."""
    start_parent(stack, "halfway", split="delimiter", max_concurrency=2)
    live: set[str] = set()
    while not live:  # until the parent has started shards that have not run yet
        stack.sim.deliver(stack.sim.queue.popleft())
        shards = stack.store.get_many(planned_shards(stack.store, stack.job("halfway")))
        live = {s.job_id for s in shards if s.status in (JobStatus.QUEUED, JobStatus.RUNNING)}
    parent = stack.store.request_cancel("halfway")  # the parent only: the cascade never ran
    assert parent.status is JobStatus.CANCELLED

    result = runner.invoke(app, ["cancel", "halfway", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "CANCELLED"
    stack.sim.drain()
    for shard in stack.store.get_many(sorted(live)):
        assert shard.status is JobStatus.CANCELLED, (shard.job_id, shard.status)


# ---------------------------------------------------------------- a cancel racing a shard's launch


def shard_creates(params: dict[str, Any], op: str, parent: str) -> list[str]:
    """The ids of the shards of `parent` a DynamoDB request (API parameters) would create."""
    if op == "PutItem":
        items = [params.get("Item", {})]
    elif op == "TransactWriteItems":
        items = [t["Put"]["Item"] for t in params.get("TransactItems", []) if "Put" in t]
    else:
        items = []
    return [i["job_id"]["S"] for i in items if i.get("parent_id", {}).get("S") == parent]


class CancelBeforeShardCreate:
    """botocore hook on the jobs table's client: right before the request that would create the
    parent's first shard goes out (after everything the parent read to decide to launch it),
    the operator runs `baton cancel PARENT` and it is accepted."""

    def __init__(self, parent: str) -> None:
        self.parent = parent
        self.output: str | None = None
        self.exit_code: int | None = None

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.output is not None or not shard_creates(params, model.name, self.parent):
            return
        result = runner.invoke(app, ["cancel", self.parent, "--json"])
        self.output, self.exit_code = result.output, result.exit_code


def jobs_client(stack: Stack) -> Any:
    return stack.store.model._get_connection().connection.client


def test_a_cancel_accepted_between_the_parents_read_and_a_shards_create_starts_no_shard(
    stack: Stack, bucket: dict[str, int]
) -> None:
    """The worst moment for the operator: the parent has read its item (no request on it) and is
    about to create a shard when `baton cancel PARENT` is accepted. No shard may start work after
    that cancel was acknowledged, and the parent ends CANCELLED."""
    cancel = CancelBeforeShardCreate("race")
    events = jobs_client(stack).meta.events
    for op in ("PutItem", "TransactWriteItems"):
        events.register(f"before-parameter-build.dynamodb.{op}", cancel, unique_id=f"race-{op}")
    try:
        start_parent(stack, "race", split="delimiter", max_concurrency=1)
        stack.sim.drain()
    finally:
        for op in ("PutItem", "TransactWriteItems"):
            events.unregister(f"before-parameter-build.dynamodb.{op}", unique_id=f"race-{op}")

    assert cancel.exit_code == 0, cancel.output
    assert cancel.output is not None and json.loads(cancel.output)["cancel_requested"] is True
    parent = stack.job("race")
    assert parent.status is JobStatus.CANCELLED, parent.last_error
    created = [c.job_id for c in stack.commits if c.op == "create" and c.job_id != "race"]
    assert created == [], "no shard is created after the parent's cancel was accepted"
    assert dict(actions.seen) == {}, "no object is processed after the cancel"
    assert stack.store.get_many(planned_shards(stack.store, parent)) == []


def test_a_shard_create_whose_answer_is_lost_around_a_cancel_is_no_failure_and_no_work(
    stack: Stack, bucket: dict[str, int]
) -> None:
    """The shard's create lands, its answer is lost, the operator's cancel is accepted (its
    cascade cancels the new shard), and botocore sends the create again (on moto it runs again
    and is refused by both conditions): the launch is no failure, the parent records the shard
    it made, and the shard does no work."""
    lose = LoseAnswers()
    cancelled: list[int] = []

    def meanwhile() -> None:
        cancelled.append(runner.invoke(app, ["cancel", "lost", "--json"]).exit_code)

    lose.meanwhile = meanwhile
    lose.lose(lambda op, body: bool(shard_creates(body, op, "lost")))
    client = jobs_client(stack)
    install(client, lose)
    try:
        start_parent(stack, "lost", split="delimiter", max_concurrency=1)
        stack.sim.drain()
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="lose-dynamodb")

    assert lose.landed == [("TransactWriteItems", 200)] and cancelled == [0]
    assert stack.sim.errors == [], "the launch did not fail"
    parent = stack.job("lost")
    assert parent.status is JobStatus.CANCELLED, parent.last_error
    shard = stack.job("lost.s0000")
    assert shard.status is JobStatus.CANCELLED and shard.hops == 0, "reached before any work"
    state = stack.store.load_state(parent)
    recorded = {s["id"]: s["status"] for s in state["shards"] if s["status"] != "PENDING"}
    assert recorded == {"lost.s0000": "CANCELLED"}, "the parent's state shows the shard it made"
    assert dict(actions.seen) == {}


def test_a_shard_create_cancelled_by_a_conflicting_write_is_sent_again(
    stack: Stack, bucket: dict[str, int]
) -> None:
    """DynamoDB cancels a transaction when another request writes one of its items at that
    moment (TransactionConflict): nothing was written, so the launch sends it again."""
    conflicts: list[str] = []

    def conflict(params: dict[str, Any], model: Any, **_: Any) -> Any:
        body = json.loads(params["body"])
        if conflicts or not shard_creates(body, model.name, "busy"):
            return None
        conflicts.append(model.name)
        response = AWSResponse("https://dynamodb.local", 400, {}, None)
        return response, {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    events = jobs_client(stack).meta.events
    events.register("before-call.dynamodb.TransactWriteItems", conflict, unique_id="conflict")
    try:
        start_parent(stack, "busy", split="prefixes", prefixes=["p1/", "p2/"])
        stack.sim.drain()
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="conflict")

    assert conflicts == ["TransactWriteItems"]
    parent = stack.job("busy")
    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    assert parent.counters["objects"] == 80 and parent.counters["shards_succeeded"] == 2


# ---------------------------------------------------------------------- parked parents


def test_a_parent_waits_parked_and_each_ending_shard_wakes_it(stack: Stack) -> None:
    start_parent(stack, "parked", split="prefixes", prefixes=["p0/", "p1/", "p2/", "p3/"])
    stack.sim.drain()
    parent = stack.job("parked")
    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    assert parent.waits >= 1 and parent.waiting_for is None
    assert "waiting" in [h.ended_by for h in parent.recent_hops]
    assert parent.counters["shards_succeeded"] == 4
    check_one_holder_no_fork(stack.commits)


def test_a_shard_that_ends_while_its_parent_parks_still_wakes_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shards end after the parent read them and before its park write lands: their
    wake-up finds the parent still running and sends nothing; the parent's own look after
    the park must see them ended. No watchdog runs: a lost wake-up would leave it parked."""
    from baton.store.lease_holder import LeaseHolder

    real_park = LeaseHolder.park
    raced: list[int] = []

    def shards_end_first(holder: LeaseHolder, *args: Any, **kwargs: Any) -> Any:
        if not raced:
            while stack.sim.queue:  # every shard runs to its end, inside the parent's hop
                raced.append(1)
                stack.sim.deliver(stack.sim.queue.popleft())
        return real_park(holder, *args, **kwargs)

    monkeypatch.setattr(LeaseHolder, "park", shards_end_first)
    start_parent(stack, "raced", split="prefixes", prefixes=["p0/", "p1/"])
    stack.sim.drain()
    assert raced, "the shards ended between the parent's read and its park"
    parent = stack.job("raced")
    assert parent.status is JobStatus.SUCCEEDED, (parent.status, parent.waiting_for)
    assert parent.counters["shards_succeeded"] == 2


def test_the_watchdog_wakes_a_parked_parent_whose_wake_up_was_lost(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baton.handler.relay import Relay

    monkeypatch.setattr(Relay, "_wake_parent", lambda self, job: None)
    start_parent(stack, "lost-wake", split="prefixes", prefixes=["p0/", "p1/"])
    stack.sim.drain()
    parked = stack.job("lost-wake")
    assert parked.status is JobStatus.QUEUED and parked.waiting_for == "shards"
    drain_with_watchdog(stack, "lost-wake", rounds=3)
    parent = stack.job("lost-wake")
    assert parent.status is JobStatus.SUCCEEDED, parent.last_error
    assert parent.counters["objects"] == 80


def test_a_job_that_finished_under_a_cancel_flag_stays_succeeded_when_the_watchdog_looks(
    stack: Stack,
) -> None:
    """A cancel cascaded to a running shard is a flag; the shard may finish before it sees it.
    The watchdog, finding the flag on a job nobody holds, must not turn SUCCEEDED into
    CANCELLED (found by the fan-out simulator: a SUCCEEDED job written again)."""
    from baton.store.lease_holder import LeaseHolder
    from baton.store.records import HopEnd, Progress

    stack.start({"bucket": BUCKET, "action": "count"}, job_id="done-under-flag")
    deadline = stack.clock.now_ms() + 60_000
    claim = stack.store.claim("done-under-flag", 1, "holder", deadline)
    assert isinstance(claim, LeaseHolder)
    assert stack.store.request_cancel("done-under-flag").cancel_requested  # a flag: held
    claim.finish(Progress({"start_after": None}, {}), HopEnd(0, "finished"))
    assert stack.job("done-under-flag").status is JobStatus.SUCCEEDED
    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    stack.clock.advance(WatchdogSettings().stall_after_s * 1000 + 1)
    assert dog._look_after("done-under-flag") is None
    assert stack.job("done-under-flag").status is JobStatus.SUCCEEDED
