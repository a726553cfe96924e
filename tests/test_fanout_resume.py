"""How a fan-out parent's resume treats its shards: one rule.

What the parent's cascade did, the parent's resume undoes; what an operator did to one shard by
name stays until the operator undoes it.

- A shard its parent's pause paused is resumed with the parent: by `baton resume PARENT` if it
  is PAUSED by then, else (it was still on its way to the pause: the fan-out sweep's seed 95) by
  the running parent itself when it sees it PAUSED.
- A shard paused by name stays PAUSED (the parent waits for it; `baton resume SHARD`).
- A shard cancelled by name stays CANCELLED: the parent fails for it, naming the way;
  `baton resume PARENT` refuses to start a run that would fail again at once, and
  `baton resume PARENT --rerun-cancelled` runs the cancelled shards again from their cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler.children import ChildJobs, cascade
from baton.handler.observability import logger
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.kit.shards import Shards
from baton.store import HopEnd, JobSpec, JobStatus, JobStore, Progress
from baton.store.errors import IllegalTransition
from baton.store.lease_holder import LeaseHolder
from tests.support import actions
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.memory_store import memory_store
from tests.test_operator import operate

BUCKET = "fan-resume"
RECORD = "tests.support.actions:record"
runner = CliRunner()


def keys() -> list[str]:
    return [f"p{d}/{i:03d}.dat" for d in range(4) for i in range(20)]


@pytest.fixture(scope="module")
def bucket() -> Iterator[int]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key in keys():
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"y")
        yield len(keys())


@pytest.fixture
def stack(bucket: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    actions.reset()
    with local_stack(timeout_ms=1_500) as s:
        operate(s, monkeypatch)
        yield s


def baton(*args: str) -> Any:
    return runner.invoke(app, list(args))


# ---------------------------------------------------------------- a shard cancelled by name


def test_a_shard_cancelled_by_name_is_run_again_only_when_asked(stack: Stack, bucket: int) -> None:
    params = {"bucket": BUCKET, "action": RECORD, "split": "delimiter", "max_concurrency": 2}
    stack.start({**params, "poll_s": 2}, task="s3-fanout", job_id="fan")
    while stack.store.find("fan.s0000") is None:  # the parent plans and starts a first shard
        stack.sim.deliver(stack.sim.queue.popleft())
    cancelled = baton("cancel", "fan.s0000")  # by name, before it ran
    assert cancelled.exit_code == 0, cancelled.output
    stack.sim.drain()

    failed = stack.job("fan")
    assert failed.status is JobStatus.FAILED and failed.last_error is not None
    assert "fan.s0000 was cancelled" in failed.last_error
    assert "`baton resume fan --rerun-cancelled`" in failed.last_error

    by_name = baton("resume", "fan.s0000")
    assert by_name.exit_code != 0
    assert "`baton resume fan --rerun-cancelled`" in by_name.output
    plain = baton("resume", "fan")
    assert plain.exit_code != 0, "a resume that would fail again at once is refused"
    assert "--rerun-cancelled" in plain.output and "fan.s0000" in plain.output
    assert stack.job("fan").status is JobStatus.FAILED

    again = baton("resume", "fan", "--rerun-cancelled", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["shards"]["fan.s0000"].startswith("resumed at epoch")
    stack.sim.drain()
    done = stack.job("fan")
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == bucket
    assert stack.job("fan.s0000").status is JobStatus.SUCCEEDED


# ---------------------------------------------------------------- pauses: the cascade's or by name


class Lambda:
    """Records the events sent (send_event's client)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.sent.append(json.loads(request["Payload"]))
        return {"StatusCode": 202}


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        yield s


def held(store: JobStore, job_id: str, epoch: int = 1, owner: str = "r") -> LeaseHolder:
    claim = store.claim(job_id, epoch, f"{owner}-{job_id}-{epoch}", store.clock.now_ms() + 60_000)
    assert isinstance(claim, LeaseHolder), claim
    return claim


def fan_out(store: JobStore) -> tuple[LeaseHolder, LeaseHolder]:
    """A running parent "p" and its running shard "p.s0000"."""
    store.create(JobSpec("p", "s3-fanout", {"bucket": "b"}, max_hops=50, max_attempts=3))
    parent = held(store, "p")
    spec = JobSpec("p.s0000", "s3-walk", {"bucket": "b"}, 50, 3, parent_id="p")
    store.create(spec, under=parent.lease)
    return parent, held(store, "p.s0000")


def poll(store: JobStore, parent: LeaseHolder, lam: Lambda) -> dict[str, Any]:
    """One step of the running parent's shard machinery; the shard's entry after it."""
    children = ChildJobs(store, lam, "fn", (), parent=parent.lease)  # type: ignore[arg-type]
    resources = Resources(s3=None, action_modules=(), logger=logger, children=children)  # type: ignore[arg-type]
    shards = Shards(resources, {"poll_s": 1}, "s3-fanout")
    state = {"shards": [{"id": "p.s0000", "status": "RUNNING", "counters": {}}]}
    ctx = StepContext({}, lambda: 60_000, lambda: 0, logger, "p")
    shards.advance(state, ctx)
    return state["shards"][0]


def test_a_shard_still_on_its_way_to_the_parents_pause_is_resumed_by_the_running_parent(
    store: JobStore,
) -> None:
    """The fan-out sweep's seed 95: `baton resume PARENT` arrives while a shard's hop has read
    the cascaded pause and not yet stopped. The CLI's cascade leaves it RUNNING; it then stops
    PAUSED; the resumed parent, seeing it PAUSED by its own cascade, resumes it."""
    lam = Lambda()
    parent, shard = fan_out(store)
    store.request_pause("p")
    cascade(store, lam, "fn", ["p.s0000"], "pause")  # type: ignore[arg-type]
    seen = shard.checkpoint(Progress({"start_after": "a"}, {"objects": 1}))
    assert seen.pause_requested  # the shard's hop is on its way to the pause
    parent.stop(JobStatus.PAUSED, HopEnd(0, "paused"))

    resumed = store.resume("p")  # `baton resume p`: the parent first, then its shards
    outcome = cascade(store, lam, "fn", ["p.s0000"], "resume")  # type: ignore[arg-type]
    assert outcome == {"p.s0000": "left RUNNING"}
    shard.stop(JobStatus.PAUSED, HopEnd(1, "paused"))  # ...and only now it stops

    again = held(store, "p", resumed.epoch)
    entry = poll(store, again, lam)
    assert entry["status"] == "QUEUED", "the parent resumed the shard its own pause stopped"
    job = store.get("p.s0000")
    assert job.status is JobStatus.QUEUED and not job.pause_cascaded
    assert {"job_id": "p.s0000", "epoch": job.epoch} in lam.sent


def test_a_shard_paused_by_name_stays_paused_under_a_running_parent(store: JobStore) -> None:
    lam = Lambda()
    parent, shard = fan_out(store)
    store.request_pause("p.s0000")  # the operator, by name
    shard.checkpoint(Progress({"start_after": "a"}, {"objects": 1}))
    shard.stop(JobStatus.PAUSED, HopEnd(1, "paused"))
    assert poll(store, parent, lam)["status"] == "PAUSED"
    assert store.get("p.s0000").status is JobStatus.PAUSED and not lam.sent
    outcome = cascade(store, lam, "fn", ["p.s0000"], "resume")  # type: ignore[arg-type]
    assert outcome["p.s0000"].startswith("left PAUSED: paused by name")


def test_a_pause_by_name_takes_a_shard_back_from_its_parents_cascade(store: JobStore) -> None:
    lam = Lambda()
    parent, shard = fan_out(store)
    cascade(store, lam, "fn", ["p.s0000"], "pause")  # type: ignore[arg-type]
    shard.checkpoint(Progress({"start_after": "a"}, {"objects": 1}))
    shard.stop(JobStatus.PAUSED, HopEnd(1, "paused"))
    assert store.get("p.s0000").pause_cascaded
    store.request_pause("p.s0000")  # the operator names it: now it is theirs
    assert not store.get("p.s0000").pause_cascaded
    assert poll(store, parent, lam)["status"] == "PAUSED" and not lam.sent


def test_a_parent_with_a_pause_pending_resumes_no_shard(store: JobStore) -> None:
    """The parent's own pause was accepted (its flag is set, its holder has not seen it yet):
    it must not undo the cascade the operator just ran."""
    lam = Lambda()
    parent, shard = fan_out(store)
    store.request_pause("p")
    cascade(store, lam, "fn", ["p.s0000"], "pause")  # type: ignore[arg-type]
    shard.checkpoint(Progress({"start_after": "a"}, {"objects": 1}))
    shard.stop(JobStatus.PAUSED, HopEnd(1, "paused"))
    assert poll(store, parent, lam)["status"] == "PAUSED" and not lam.sent


def test_a_cancelled_job_that_is_no_shard_still_cannot_be_resumed(store: JobStore) -> None:
    store.create(JobSpec("solo", "s3-walk", {"bucket": "b"}, max_hops=5, max_attempts=3))
    store.request_cancel("solo")
    with pytest.raises(IllegalTransition, match=r"cannot be resumed$"):
        store.resume("solo", reopen=True)
