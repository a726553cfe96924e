"""Fan-out: one bucket as many parallel chains, no object in two shards, one progress view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler import faults
from baton.handler.children import planned_shards
from baton.handler.tasks.fanout import FanOut
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import KillAt
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

    actions.fail_always.clear()
    mark = len(stack.commits)
    result = runner.invoke(app, ["resume", "redo", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["shards"].values()).count("left SUCCEEDED") == 8
    stack.sim.drain()

    done = stack.job("redo")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == len(bucket)
    claimed_after = {c.job_id for c in stack.commits[mark:] if c.op == "claim"}
    assert claimed_after == bad | {"redo"}, "only the failed shards (and the parent) ran again"


def test_cancel_and_status_on_the_parent_reach_every_shard(
    stack: Stack, bucket: dict[str, int]
) -> None:
    start_parent(stack, "stopme", split="delimiter", max_concurrency=2)
    for _ in range(6):
        stack.sim.deliver(stack.sim.queue.popleft())
    status = json.loads(runner.invoke(app, ["status", "stopme", "--json"]).output)
    assert status["counters"]["shards"] == 10
    started = {s["job_id"] for s in status["shards"]}
    assert 2 <= len(started) < 10 and all(j.startswith("stopme.s") for j in started)
    running = [s for s in status["shards"] if s["status"] in ("QUEUED", "RUNNING")]
    assert len(running) <= 2

    result = runner.invoke(app, ["cancel", "stopme", "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)["shards"]
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
    assert json.loads(result.output)["status"] == "CANCELLED"
    stack.sim.drain()
    for shard in stack.store.get_many(sorted(live)):
        assert shard.status is JobStatus.CANCELLED, (shard.job_id, shard.status)
