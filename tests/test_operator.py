"""The operator's commands on live chains: status, watch, list, history, pause, cancel, resume,
the watchdog and the kill switch. The CLI talks to the same in-process stack the chain runs on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.context import CliContext
from baton.cli.main import app
from baton.handler import faults
from baton.store.records import JobStatus
from tests.support import actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.buckets import BucketTruth, fill_bucket
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import KillAt
from tests.test_cli import make_function

runner = CliRunner()
BUCKET = "ops-bucket"
OBJECTS = 600
STALL_S = 300


@pytest.fixture(scope="module")
def truth() -> Iterator[BucketTruth]:
    with mock_aws():
        yield fill_bucket(boto3.client("s3", region_name="us-east-1"), BUCKET, OBJECTS)


def operate(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at the stack's store (and virtual clock) and its simulated Lambda."""
    monkeypatch.setattr(CliContext, "store", property(lambda self: stack.store))
    monkeypatch.setattr(CliContext, "relay_settings", property(lambda self: stack.runtime.settings))
    monkeypatch.setattr(
        CliContext, "lambda_client", property(lambda self: stack.runtime.lambda_client)
    )


@pytest.fixture
def stack(truth: BucketTruth, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    actions.reset()
    with local_stack(timeout_ms=1_500) as s:
        operate(s, monkeypatch)
        yield s


def baton(*args: str) -> Any:
    return runner.invoke(app, list(args))


def baton_json(*args: str) -> Any:
    result = baton(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout alone: logs go to stderr


def start_walk(job_id: str, *options: str) -> Any:
    """`baton start s3-walk` over the test bucket with `visit` (nothing per object), one object
    per step: on the virtual clock a walk's hops grow with its objects (count would take a page
    per step and end in a hop or two)."""
    return baton(
        "start", "s3-walk", "--bucket", BUCKET, "--job-id", job_id,
        "--action", "tests.support.actions:visit", "--concurrency", "1", *options,
    )  # fmt: skip


def deliver(stack: Stack, n: int) -> None:
    for _ in range(n):
        stack.sim.deliver(stack.sim.queue.popleft())


def test_status_shows_health_rate_eta_and_the_lease(stack: Stack) -> None:
    start_walk("s1", "--expected-objects", str(OBJECTS))
    queued = baton_json("status", "s1")
    assert queued["health"] == "waiting for hand-off" and queued["rate_per_s"] is None

    deliver(stack, 2)
    running = baton_json("status", "s1")
    assert running["status"] == "QUEUED" and running["hops"] == 2
    assert running["rate_per_s"] > 0
    assert running["eta_s"] > 0 and running["expected_total"] == OBJECTS
    assert 0 < running["counters"]["objects"] < OBJECTS

    human = baton("status", "s1")
    assert human.exit_code == 0
    for label in ("health", "rate", "eta", "epoch / hops", "objects="):
        assert label in human.output

    stack.sim.drain()
    done = baton_json("status", "s1")
    assert done["health"] == "succeeded" and done["eta_s"] is None
    assert done["counters"]["objects"] == OBJECTS


def test_status_of_a_held_job_names_the_holder_and_a_dead_one_is_stalled(stack: Stack) -> None:
    start_walk("held")
    claim = stack.store.claim("held", 1, "req-1/abc", stack.clock.now_ms() + 60_000)
    assert not isinstance(claim, type(None))
    view = baton_json("status", "held")
    assert view["health"] == "healthy" and view["lease_owner"] == "req-1/abc"
    stack.clock.advance(120_000)
    stalled = baton_json("status", "held")
    assert stalled["health"] == "stalled" and "lease expired" in stalled["health_reason"]


def test_history_is_a_timeline_of_hops(stack: Stack) -> None:
    start_walk("h1")
    stack.sim.drain()
    hops = baton_json("history", "h1")
    assert len(hops) >= 3
    assert [h["ended_by"] for h in hops[:-1]] == ["budget"] * (len(hops) - 1)
    assert hops[-1]["ended_by"] == "finished"
    assert sum(h["items"] for h in hops) == OBJECTS
    assert all(h["duration_ms"] > 0 for h in hops)
    table = baton("history", "h1")
    assert "finished" in table.output and "budget" in table.output


def test_list_pages_newest_first_by_status(stack: Stack) -> None:
    for i in range(5):
        start_walk(f"job-{i}")
    baton("pause", "job-0")
    first = baton_json("list", "--status", "queued", "--limit", "3")
    assert [j["job_id"] for j in first["jobs"]] == ["job-4", "job-3", "job-2"]
    assert first["next_token"]
    second = baton_json(
        "list", "--status", "QUEUED", "--limit", "3", "--next-token", first["next_token"]
    )
    assert [j["job_id"] for j in second["jobs"]] == ["job-1"]
    assert second["next_token"] is None
    everything = baton_json("list")
    assert {j["job_id"] for j in everything["jobs"]} == {f"job-{i}" for i in range(5)}
    assert everything["jobs"][0]["job_id"] == "job-0", "the pause made it the newest"
    bad = baton("list", "--status", "DONE")
    assert bad.exit_code == 2 and "unknown status" in bad.output


def test_pause_between_hops_then_resume_gives_exact_counters(
    stack: Stack, truth: BucketTruth
) -> None:
    start_walk("p1")
    deliver(stack, 2)
    paused = baton_json("pause", "p1")
    assert paused["status"] == "PAUSED"
    stack.sim.drain()
    assert stack.sim.results[-1]["detail"] == "paused", "the in-flight event is refused"
    assert stack.job("p1").status is JobStatus.PAUSED

    resumed = baton_json("resume", "p1")
    assert resumed["status"] == "QUEUED" and resumed["epoch"] == paused["epoch"] + 1
    stack.sim.drain()
    done = stack.job("p1")
    assert done.status is JobStatus.SUCCEEDED
    assert done.counters == truth.counters()
    check_one_holder_no_fork(stack.commits)


def test_cancel_stops_within_one_checkpoint_interval_and_never_runs_again(
    stack: Stack, truth: BucketTruth
) -> None:
    keys = sorted(truth.sizes, key=lambda k: k.encode())
    asked_at: list[int] = []

    def cancel_now() -> None:
        asked_at.append(stack.clock.peek())
        result = baton("cancel", "c1")
        assert "cancel requested" in result.output

    actions.hooks[keys[200]] = cancel_now
    baton(
        "start",
        "s3-walk",
        "--bucket",
        BUCKET,
        "--job-id",
        "c1",
        "--action",
        "tests.support.actions:record",
        # The hook runs inside the action: inline, so its clock reading is the step's.
        "--concurrency",
        "1",
    )
    stack.sim.drain()

    job = stack.job("c1")
    assert job.status is JobStatus.CANCELLED
    # Seen at the next checkpoint, or at a hand-off that came first (then settled at once).
    assert job.recent_hops[-1].ended_by in ("cancelled", "budget")
    stop = next(c for c in stack.commits if c.op == "cancelled")
    interval_ms = stack.runtime.settings.checkpoint_s * 1000
    assert stop.at_ms - asked_at[0] <= interval_ms + 100, "stopped at the next checkpoint"
    assert job.counters["objects"] < OBJECTS

    for epoch in range(1, job.epoch + 2):  # stale, current and future events all bounce
        stack.sim.send({"job_id": "c1", "epoch": epoch})
    stack.sim.drain()
    assert stack.job("c1").counters == job.counters
    assert [c.op for c in stack.commits if c.job_id == "c1"][-1] == "cancelled"
    again = baton("resume", "c1")
    assert again.exit_code == 1 and "cannot be resumed" in again.output


def test_resume_refuses_a_live_lease_and_force_waits_for_the_deadline(stack: Stack) -> None:
    start_walk("r1")
    stack.store.claim("r1", 1, "busy/1", stack.clock.now_ms() + 10_000)
    refused = baton("resume", "r1")
    assert refused.exit_code == 1 and "refuses a live lease" in refused.output
    assert "baton resume --force" in refused.output, "the CLI names its flag"
    too_soon = baton("resume", "r1", "--force")
    assert too_soon.exit_code == 1 and "lease term has not run out" in too_soon.output
    stack.clock.advance(10_500)  # past the lease's end (its deadline), inside the skew margin
    assert baton("resume", "r1").exit_code == 1
    forced = baton_json("resume", "r1", "--force")
    assert forced["status"] == "QUEUED" and forced["epoch"] == 2
    stack.sim.drain()
    assert stack.job("r1").status is JobStatus.SUCCEEDED


def test_the_watchdog_completes_a_chain_whose_hand_off_was_lost(
    stack: Stack, truth: BucketTruth
) -> None:
    lost_once: list[int] = []

    def lose_first_epoch_3(event: dict[str, Any]) -> bool:
        if event["epoch"] == 3 and not lost_once:
            lost_once.append(3)
            return True
        return False

    stack.sim.lose = lose_first_epoch_3
    start_walk("w1")
    stack.sim.drain()
    assert stack.job("w1").status is JobStatus.QUEUED and stack.sim.lost

    assert baton_json("watchdog", "--once")["actions"] == [], "not stalled yet"
    stack.clock.advance(STALL_S * 1000 + 1)
    swept = baton_json("watchdog", "--once")["actions"]
    assert [(a["job_id"], a["action"], a["epoch"]) for a in swept] == [("w1", "resent", 3)]
    stack.sim.drain()
    done = stack.job("w1")
    assert done.status is JobStatus.SUCCEEDED and done.counters == truth.counters()
    assert done.restarts == 0, "progress resets the watchdog's count"


def test_a_chain_lost_again_and_again_fails_as_stalled_then_resumes(
    stack: Stack, truth: BucketTruth
) -> None:
    losing = {"on": True}
    stack.sim.lose = lambda event: losing["on"] and event["epoch"] >= 2
    start_walk("w2")
    stack.sim.drain()
    for _ in range(3):
        stack.clock.advance(STALL_S * 1000 + 1)
        assert [a["action"] for a in baton_json("watchdog", "--once")["actions"]] == ["resent"]
        stack.sim.drain()
    stack.clock.advance(STALL_S * 1000 + 1)
    final = baton_json("watchdog", "--once")["actions"]
    assert [a["action"] for a in final] == ["failed"]
    failed = baton_json("status", "w2")
    assert failed["status"] == "FAILED" and failed["last_error"].startswith("stalled:")
    assert "restarted it 3 times" in failed["last_error"]

    losing["on"] = False
    baton("resume", "w2")
    stack.sim.drain()
    done = stack.job("w2")
    assert done.status is JobStatus.SUCCEEDED and done.counters == truth.counters()


def test_the_watchdog_rearms_a_chain_whose_holder_died_and_retries_ran_out(
    truth: BucketTruth, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill = KillAt(faults.MID_STEP, lambda n: n == 250)
    with local_stack(timeout_ms=1_500, faults=kill) as stack:
        operate(stack, monkeypatch)
        stack.sim.max_retries = 0
        start_walk("w3")
        stack.sim.drain()
        dead = stack.job("w3")
        assert dead.status is JobStatus.RUNNING and stack.sim.dead_letters
        stack.clock.advance(STALL_S * 1000 + 1)
        swept = baton_json("watchdog", "--once")["actions"]
        assert [(a["action"], a["epoch"]) for a in swept] == [("rearmed", dead.epoch + 1)]
        stack.sim.drain()
        done = stack.job("w3")
        assert done.status is JobStatus.SUCCEEDED and done.counters == truth.counters()
        check_one_holder_no_fork(stack.commits)


def test_watch_follows_the_job_to_its_end(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("baton.cli.commands.inspect.time.sleep", lambda s: deliver(stack, 1))
    baton(
        "start", "s3-walk", "--bucket", BUCKET, "--job-id", "v1", "--expected-objects", str(OBJECTS)
    )
    watched = baton("watch", "v1", "--interval", "0.01")
    assert watched.exit_code == 0, watched.output
    assert (
        "SUCCEEDED" in watched.output and "hops" in watched.output and "objects" in watched.output
    )

    start_walk("v2")
    baton("cancel", "v2")
    assert baton("watch", "v2").exit_code == 3

    start_walk("v3")
    baton("pause", "v3")
    monkeypatch.setattr("baton.cli.commands.inspect.time.sleep", lambda s: stack.clock.advance(0))
    paused = baton("watch", "v3", "--interval", "0.01")
    assert paused.exit_code == 4 and "baton resume v3" in paused.output


def test_the_kill_switch_sets_and_lifts_reserved_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        make_function("baton-worker")
        monkeypatch.setattr(
            CliContext,
            "lambda_client",
            property(lambda self: boto3.client("lambda", region_name="us-east-1")),
        )
        on = baton("kill-switch", "on")
        assert (
            on.exit_code == 0
            and "on-failure destination" in on.output
            and "baton resume" in on.output
        )
        assert baton_json("kill-switch", "status") == {
            "function": "baton-worker",
            "kill_switch": True,
            "reserved_concurrency": 0,
        }
        assert baton_json("kill-switch", "off")["kill_switch"] is False
        assert baton("kill-switch", "maybe").exit_code == 2


def test_the_watchdog_stands_down_while_the_kill_switch_is_on(
    stack: Stack, truth: BucketTruth
) -> None:
    make_function("baton-worker")
    stack.sim.lose = lambda event: event["epoch"] == 2 and len(stack.sim.lost) == 0
    start_walk("k1")
    stack.sim.drain()
    assert baton("kill-switch", "on").exit_code == 0
    for _ in range(5):
        stack.clock.advance(STALL_S * 1000 + 1)
        assert baton_json("watchdog", "--once")["actions"] == []
    assert stack.job("k1").restarts == 0 and stack.job("k1").status is JobStatus.QUEUED

    baton("kill-switch", "off")
    assert [a["action"] for a in baton_json("watchdog", "--once")["actions"]] == ["resent"]
    stack.sim.drain()
    assert stack.job("k1").counters == truth.counters()


def test_every_command_judges_a_stall_by_the_watchdog_threshold(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`baton status` and the commands that print a job (pause, resume, start) share one verdict."""
    from baton.cli.view import JobView

    monkeypatch.setenv("BATON_WATCHDOG_STALL_S", "60")
    start_walk("queued")
    stack.clock.advance(100_000)
    job = stack.store.get("queued")
    assert baton_json("status", "queued")["health"] == "stalled"
    assert JobView.of(job, stack.clock.now_ms()).verdict.health.value == "stalled"
    monkeypatch.setenv("BATON_WATCHDOG_STALL_S", "300")
    assert baton_json("status", "queued")["health"] == "waiting for hand-off"
    assert JobView.of(job, stack.clock.now_ms()).verdict.health.value == "waiting for hand-off"
