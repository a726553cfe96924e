"""A shard's create is checked against its parent in the same transaction: it is refused once an
operator's cancel or pause on the parent was accepted or the launching invocation lost the
parent's lease, and an operator's flag that meets such a transaction is asked again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from baton.store.errors import ParentStopped
from baton.store.job_store import JobStore
from baton.store.lease_holder import LeaseHolder
from baton.store.records import JobSpec, JobStatus
from tests.support.lost_answers import LoseAnswers, install
from tests.support.memory_store import memory_store

DEADLINE_MS = 60_000


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        yield s


def shard(index: int = 0) -> JobSpec:
    return JobSpec(
        f"p.s{index:04d}",
        "s3-walk",
        {"bucket": "b", "prefix": f"{index}/"},
        max_hops=10,
        max_attempts=3,
        parent_id="p",
    )


def running_parent(store: JobStore, owner: str = "r1") -> LeaseHolder:
    store.create(JobSpec("p", "s3-fanout", {"bucket": "b"}, max_hops=10, max_attempts=3))
    claim = store.claim("p", 1, owner, store.clock.now_ms() + DEADLINE_MS)
    assert isinstance(claim, LeaseHolder)
    return claim


def test_a_held_parent_without_a_request_creates_its_shard(store: JobStore) -> None:
    parent = running_parent(store)
    job, created = store.create(shard(), under=parent.lease)
    assert created and job.status is JobStatus.QUEUED and job.parent_id == "p"
    again, created_again = store.create(shard(), under=parent.lease)
    assert not created_again and again.job_id == job.job_id, "a relaunch finds the same shard"


@pytest.mark.parametrize("request_stop", ["cancel", "pause"])
def test_no_shard_is_created_after_the_parents_request_was_accepted(
    store: JobStore, request_stop: str
) -> None:
    parent = running_parent(store)
    store.create(shard(0), under=parent.lease)
    flagged = store.request_cancel("p") if request_stop == "cancel" else store.request_pause("p")
    assert flagged.status is JobStatus.RUNNING, "the holder is asked, the flag is set"
    with pytest.raises(ParentStopped) as refused:
        store.create(shard(1), under=parent.lease)
    assert refused.value.existing is None
    assert store.find("p.s0001") is None
    with pytest.raises(ParentStopped) as again:
        store.create(shard(0), under=parent.lease)
    existing = again.value.existing
    assert existing is not None and existing.job_id == "p.s0000", "made before the request"


def test_no_shard_is_created_by_an_invocation_that_lost_the_parents_lease(
    store: JobStore,
) -> None:
    parent = running_parent(store)
    other = replace(parent.lease, owner="r2")  # never held it: a zombie's view
    with pytest.raises(ParentStopped):
        store.create(shard(), under=other)
    stale = replace(parent.lease, epoch=parent.lease.epoch - 1)
    with pytest.raises(ParentStopped):
        store.create(shard(), under=stale)
    assert store.find("p.s0000") is None


def test_an_operators_flag_that_meets_a_shards_create_is_asked_again(store: JobStore) -> None:
    """DynamoDB rejects a single-item write to an item a transaction holds at that moment
    (TransactionConflictException; moto never does): the cancel reads and asks again."""
    running_parent(store)
    rejected: list[str] = []

    def conflict(model: Any, **_: Any) -> Any:
        if rejected:
            return None
        rejected.append(model.name)
        response = AWSResponse("https://dynamodb.local", 400, {}, None)
        return response, {
            "Error": {"Code": "TransactionConflictException", "Message": "in a transaction"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    events = store.model._get_connection().connection.client.meta.events
    events.register("before-call.dynamodb.UpdateItem", conflict, unique_id="conflict")
    try:
        job = store.request_cancel("p")
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", unique_id="conflict")
    assert rejected == ["UpdateItem"]
    assert job.cancel_requested and job.status is JobStatus.RUNNING


def lose_the_create(store: JobStore, meanwhile: Any = None) -> LoseAnswers:
    """The next TransactWriteItems lands and its answer is lost; botocore sends it again."""
    lose = LoseAnswers(meanwhile=meanwhile)
    lose.lose(lambda op, body: op == "TransactWriteItems")
    install(store.model._get_connection().connection.client, lose)
    return lose


def test_a_create_whose_answer_is_lost_is_applied_once(store: JobStore) -> None:
    """botocore's resend of a landed create is refused on moto (the item exists; DynamoDB itself
    answers it from the ClientRequestToken): the token on the item says it was this create."""
    parent = running_parent(store)
    lose = lose_the_create(store)
    job, created = store.create(shard(), under=parent.lease)
    assert lose.landed == [("TransactWriteItems", 200)] and not lose.armed
    assert created, "the create that landed is this one: its event is sent"
    assert job.job_id == "p.s0000" and job.status is JobStatus.QUEUED


def test_a_create_that_landed_before_the_cancel_is_its_own_even_when_the_resend_is_refused(
    store: JobStore,
) -> None:
    """The create lands, the operator's cancel is accepted before botocore's resend, which both
    conditions now refuse: the shard was created before the cancel, by this call (the parent
    records it, and passes the cancel on to it when it stops)."""
    parent = running_parent(store)
    lose = lose_the_create(store, meanwhile=lambda: store.request_cancel("p"))
    job, created = store.create(shard(), under=parent.lease)
    assert lose.landed == [("TransactWriteItems", 200)]
    assert created and job.job_id == "p.s0000"
    assert store.get("p").cancel_requested
    with pytest.raises(ParentStopped):
        store.create(shard(1), under=parent.lease)
