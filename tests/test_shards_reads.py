"""A fan-out parent reads the operator's request fresh before it launches a shard, and only
then: a step that only polls its running shards costs no read of its own item."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from baton.handler.observability import logger
from baton.handler.tasks.base import Resources, StepContext
from baton.handler.tasks.shards import PENDING, Shards, plan_shards
from baton.store.records import Job, JobStatus


def child(job_id: str, status: JobStatus = JobStatus.RUNNING) -> Job:
    return Job(job_id, status, 1, "s3-walk", {}, {"objects": 1}, 0, 10, 0, 3, "t", "t")


class Children:
    """The parent's view of the store: counts the reads of the parent's request."""

    max_running: int | None = None

    def __init__(self, requested: JobStatus | None = None) -> None:
        self.request = requested
        self.request_reads = 0
        self.launched: list[str] = []

    def launch(self, parent_id: str, job_id: str, params: dict[str, Any], **_: Any) -> Job:
        self.launched.append(job_id)
        return child(job_id)

    def read(self, job_ids: Iterable[str]) -> dict[str, Job]:
        return {job_id: child(job_id) for job_id in job_ids}

    def requested(self, parent_id: str) -> JobStatus | None:
        self.request_reads += 1
        return self.request

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


def test_a_step_that_launches_nothing_does_not_read_the_parent() -> None:
    children = Children()
    shards, state = parent(children, shards=2, max_concurrency=2)
    shards.advance(state, context())  # launches both, after one read
    assert children.launched == ["p.s0000", "p.s0001"] and children.request_reads == 1
    for _ in range(5):
        shards.advance(state, context())  # all slots full, nothing PENDING: only polls
    assert children.request_reads == 1


def test_a_step_that_would_launch_reads_the_request_and_launches_nothing_after_a_cancel() -> None:
    children = Children()
    shards, state = parent(children, shards=3, max_concurrency=1)
    shards.advance(state, context())
    assert children.launched == ["p.s0000"]
    state["shards"][0]["status"] = JobStatus.SUCCEEDED.value  # a slot frees up
    children.request = JobStatus.CANCELLED  # accepted by the CLI between two checkpoints
    ctx = context()
    assert shards.advance(state, ctx) is False
    assert children.launched == ["p.s0000"], "no shard starts after the cancel"
    assert ctx.commit_requested, "the commit brings the request to the relay"
    assert [s["status"] for s in state["shards"]][1:] == [PENDING, PENDING]
