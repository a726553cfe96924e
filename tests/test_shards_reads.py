"""A fan-out parent never reads its own item to learn of an operator's request: the store refuses
a shard's create once a cancel or pause on the parent was accepted (`ParentStopped`), and the
parent then launches nothing more and commits, so the relay sees the request and stops it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from baton.handler.observability import logger
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.kit.shards import PENDING, Shards, plan_shards
from baton.store.errors import ParentStopped
from baton.store.records import Job, JobStatus


def child(job_id: str, status: JobStatus = JobStatus.RUNNING) -> Job:
    return Job(job_id, status, 1, "s3-walk", {}, {"objects": 1}, 0, 10, 0, 3, "t", "t")


class Children:
    """The parent's view of the store: a launch is refused once `stopped` is set."""

    max_running: int | None = None

    def __init__(self) -> None:
        self.stopped = False
        self.existing: Job | None = None
        self.launched: list[str] = []
        self.refused: list[str] = []

    def launch(self, parent_id: str, job_id: str, params: dict[str, Any], **_: Any) -> Job:
        if self.stopped:
            self.refused.append(job_id)
            raise ParentStopped("parent stopped", job_id=parent_id, existing=self.existing)
        self.launched.append(job_id)
        return child(job_id)

    def read(self, job_ids: Iterable[str]) -> dict[str, Job]:
        return {job_id: child(job_id) for job_id in job_ids}

    def pass_on(self, job_ids: Iterable[str], status: JobStatus) -> dict[str, str]:
        return {}


def parent(children: Children, shards: int, max_concurrency: int) -> tuple[Shards, dict[str, Any]]:
    resources = Resources(
        s3=None,  # type: ignore[arg-type]
        action_modules=(),
        logger=logger,
        children=children,
        sleep=lambda s: None,
    )
    params = {"max_concurrency": max_concurrency, "poll_s": 1}
    state = {"shards": plan_shards("p", [("s3-walk", {"bucket": "b"})] * shards)}
    return Shards(resources, params, "s3-fanout"), state


def context() -> StepContext:
    return StepContext({}, lambda: 60_000, lambda: 0, logger, "p")


def test_a_refused_launch_stops_launching_and_asks_for_a_commit() -> None:
    children = Children()
    shards, state = parent(children, shards=3, max_concurrency=1)
    shards.advance(state, context())
    assert children.launched == ["p.s0000"]
    state["shards"][0]["status"] = JobStatus.SUCCEEDED.value  # a slot frees up
    children.stopped = True  # an operator's cancel was accepted on the parent
    ctx = context()
    assert shards.advance(state, ctx) is False
    assert children.launched == ["p.s0000"], "no shard starts after the cancel"
    assert children.refused == ["p.s0001"], "the first refusal ends the step's launches"
    assert ctx.commit_requested, "the commit brings the request to the relay"
    assert [s["status"] for s in state["shards"]][1:] == [PENDING, PENDING]
    assert ctx.counters["shards_pending"] == 2


def test_a_shard_created_before_the_request_is_recorded_as_started() -> None:
    """An earlier launch created the shard (its answer lost, or the parent died before its
    commit): the refusal carries it, and the parent records it so its stop passes the request
    on to that shard too."""
    children = Children()
    shards, state = parent(children, shards=2, max_concurrency=2)
    children.stopped = True
    children.existing = child("p.s0000", JobStatus.QUEUED)
    ctx = context()
    assert shards.advance(state, ctx) is False
    assert [s["status"] for s in state["shards"]] == ["QUEUED", PENDING]
    assert ctx.commit_requested
