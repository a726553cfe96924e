"""A fan-out parent whose shard create stays throttled defers that shard, pauses, and creates it
later: each create checks the parent's item in the same transaction, so a parent with a large
item (long boundary keys, a large inline state) launching quickly exceeds its own partition's
write throughput. Failing the hop instead failed the parent after three attempts, since a hop
that fails commits none of the shards it launched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from baton.handler.observability import logger
from baton.handler.tasks.framework.base import Resources, StepContext
from baton.handler.tasks.kit.shards import PENDING, THROTTLED_PAUSE_S, Shards, plan_shards
from baton.store.errors import CreateThrottled
from baton.store.records import Job, JobStatus


def child(job_id: str, status: JobStatus = JobStatus.RUNNING) -> Job:
    return Job(job_id, status, 1, "s3-walk", {}, {"objects": 1}, 0, 10, 0, 3, "t", "t")


class Children:
    """The parent's view of the store: the creates named in `throttled` stay throttled once."""

    max_running: int | None = None

    def __init__(self, throttled: set[str]) -> None:
        self.throttled = throttled
        self.launched: list[str] = []

    def launch(self, parent_id: str, job_id: str, params: dict[str, Any], **_: Any) -> Job:
        if job_id in self.throttled:
            self.throttled.discard(job_id)
            raise CreateThrottled("create throttled", job_id=job_id)
        self.launched.append(job_id)
        return child(job_id)

    def read(self, job_ids: Iterable[str]) -> dict[str, Job]:
        return {job_id: child(job_id) for job_id in job_ids}


def test_a_throttled_create_defers_its_shard_and_the_parent_does_not_park() -> None:
    children = Children(throttled={"p.s0001"})
    slept: list[float] = []
    resources = Resources(
        s3=None,  # type: ignore[arg-type]
        action_modules=(),
        logger=logger,
        children=children,  # type: ignore[arg-type]
        sleep=slept.append,
    )
    shards = Shards(resources, {"max_concurrency": 3}, "s3-fanout")
    state = {"shards": plan_shards("p", [("s3-walk", {"bucket": "b"})] * 3)}
    ctx = StepContext({}, lambda: 60_000, lambda: 0, logger, "p")
    assert shards.advance(state, ctx) is False
    assert children.launched == ["p.s0000"], "the throttled create ends the step's launches"
    assert [s["status"] for s in state["shards"]][1:] == [PENDING, PENDING]
    assert ctx.wait_requested is None, "a parent waiting on a deferred create is never parked"
    assert slept == [THROTTLED_PAUSE_S]
    ctx = StepContext({}, lambda: 60_000, lambda: 0, logger, "p")
    assert shards.advance(state, ctx) is False
    assert children.launched == ["p.s0000", "p.s0001", "p.s0002"]
    assert "shards_pending" not in ctx.counters
    assert all(s["status"] == JobStatus.RUNNING.value for s in state["shards"])
