"""The protocol's conditional writes, one operation at a time, against moto's DynamoDB."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import boto3
import pytest

from baton.store import (
    HopEnd,
    IllegalTransition,
    InvalidJob,
    JobConflict,
    JobSpec,
    JobStatus,
    JobStore,
    LeaseLost,
    Progress,
    RejectReason,
    StateCorrupt,
    StateTooLarge,
)
from baton.store.constants import RECENT_HOPS_KEPT, STATE_INLINE_LIMIT_BYTES
from baton.store.lease_holder import LeaseHolder
from baton.store.records import ClaimRejected
from tests.support.memory_store import memory_store

DEADLINE_MS = 60_000


@pytest.fixture
def store() -> Iterator[JobStore]:
    with memory_store() as s:
        yield s


def spec(job_id: str = "job-1", **params: object) -> JobSpec:
    return JobSpec(job_id, "s3-walk", {"bucket": "b", **params}, max_hops=10, max_attempts=3)


def claim(store: JobStore, job_id: str = "job-1", epoch: int = 1, owner: str = "r1") -> LeaseHolder:
    result = store.claim(job_id, epoch, owner, store.clock.now_ms() + DEADLINE_MS)
    assert isinstance(result, LeaseHolder), result
    return result


def rejected(
    store: JobStore, job_id: str = "job-1", epoch: int = 1, owner: str = "r2"
) -> RejectReason:
    result = store.claim(job_id, epoch, owner, store.clock.now_ms() + DEADLINE_MS)
    assert isinstance(result, ClaimRejected), result
    return result.reason


def test_the_item_is_readable_without_baton(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    c.checkpoint(Progress({"start_after": "k"}, {"objects": 5, "bytes": 10}))
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=store.table_name, Key={"job_id": {"S": "job-1"}}
    )["Item"]
    assert raw["status"] == {"S": "RUNNING"}
    assert raw["epoch"] == {"N": "1"}
    assert raw["hops"] == {"N": "1"}
    assert raw["counters"] == {"M": {"objects": {"N": "5"}, "bytes": {"N": "10"}}}
    assert raw["params"]["M"]["bucket"] == {"S": "b"}
    assert raw["created_at"]["S"].endswith("Z")
    assert "B" in raw["state"] and raw["state_codec"] == {"S": "json+zlib"}


def test_create_is_idempotent_and_refuses_a_different_job_under_the_same_id(
    store: JobStore,
) -> None:
    first, created = store.create(spec())
    again, created_again = store.create(spec())
    assert created and not created_again
    assert again.created_at == first.created_at
    with pytest.raises(JobConflict, match="exists already") as conflict:
        store.create(spec(prefix="other/"))
    assert "--" not in str(conflict.value), "the store names no CLI flag; the CLI adds its hint"


def test_oversized_parameters_are_refused_before_any_write(store: JobStore) -> None:
    with pytest.raises(InvalidJob, match="over the limit"):
        store.create(spec(blob="x" * 40_000))
    assert store.find("job-1") is None


def test_claim_rejections_are_classified(store: JobStore) -> None:
    assert rejected(store, "missing") is RejectReason.NOT_FOUND
    store.create(spec())
    assert rejected(store, epoch=2) is RejectReason.FUTURE_EPOCH
    c = claim(store)
    assert rejected(store) is RejectReason.LEASE_HELD
    c.hand_off(Progress({}, {}), HopEnd(1, "budget"), {})
    assert rejected(store, epoch=1) is RejectReason.STALE_EPOCH
    c2 = claim(store, epoch=2)
    c2.stop(JobStatus.PAUSED, HopEnd(0, "paused"))
    assert rejected(store, epoch=2) is RejectReason.PAUSED
    resumed = store.resume("job-1")
    c3 = claim(store, epoch=resumed.epoch)
    c3.finish(Progress({}, {}), HopEnd(0, "finished"))
    assert rejected(store, epoch=resumed.epoch) is RejectReason.TERMINAL


def test_hops_guard_refuses_the_claim_past_max_hops(store: JobStore) -> None:
    store.create(JobSpec("j", "s3-walk", {"bucket": "b"}, max_hops=1, max_attempts=3))
    c = claim(store, "j")
    c.record_failure("boom", HopEnd(0, "error"))
    assert rejected(store, "j") is RejectReason.HOPS_EXHAUSTED
    failed = store.fail_exhausted(store.get("j"))
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.last_error is not None and "max_hops" in failed.last_error


def test_a_job_out_of_hops_after_a_failed_hop_keeps_that_hops_error(store: JobStore) -> None:
    """The last hop fails and is released for Lambda's retry; the retry has no hop left. The job
    ends FAILED for its hops, and the error that stopped the last hop is still on it: it is
    what to fix before resuming with more hops."""
    store.create(JobSpec("j", "s3-walk", {"bucket": "b"}, max_hops=1, max_attempts=3))
    c = claim(store, "j")
    c.record_failure("ConnectionError: the source hung up", HopEnd(0, "error"))
    assert rejected(store, "j") is RejectReason.HOPS_EXHAUSTED
    failed = store.fail_exhausted(store.get("j"))
    assert failed is not None and failed.last_error is not None
    assert "max_hops reached" in failed.last_error
    assert "ConnectionError: the source hung up" in failed.last_error


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_is_fenced(
    store: JobStore,
) -> None:
    store.create(spec())
    old = store.claim("job-1", 1, "r1", store.clock.now_ms() + 100)
    assert isinstance(old, LeaseHolder)
    assert rejected(store) is RejectReason.LEASE_HELD
    store.clock.advance(100 + store.skew_ms + 1)  # type: ignore[attr-defined]
    new = claim(store, owner="r2")
    assert new.job.hops == 2
    with pytest.raises(LeaseLost):
        old.checkpoint(Progress({"zombie": True}, {"objects": 999}))
    with pytest.raises(LeaseLost):
        old.hand_off(Progress({}, {}), HopEnd(0, "budget"), {})
    new.checkpoint(Progress({"ok": True}, {"objects": 1}))
    assert store.load_state(store.get("job-1")) == {"ok": True}


def test_a_dead_holders_lease_ends_one_term_after_its_last_commit_not_at_its_deadline(
    store: JobStore,
) -> None:
    """A hop that died early (out of memory) must not block Lambda's retry a minute later."""
    store.create(spec())
    fifteen_minutes = 900_000
    dead = store.claim("job-1", 1, "r1", store.clock.now_ms() + fifteen_minutes)
    assert isinstance(dead, LeaseHolder)
    assert dead.lease.expires_ms == dead.lease.started_ms + store.lease_ms + store.skew_ms
    store.clock.advance(20_000)  # type: ignore[attr-defined]
    before = store.clock.now_ms()
    dead.checkpoint(Progress({"start_after": "k1"}, {"objects": 1}))
    renewed_to = store.get("job-1").lease_expires_ms
    assert renewed_to == dead.lease.expires_ms
    assert before < renewed_to - store.lease_ms - store.skew_ms < store.clock.now_ms()
    # The hop dies here. Lambda's first retry, about a minute later, takes the job over,
    # with the counters of the last commit.
    store.clock.advance(renewed_to - store.clock.now_ms() - 10)  # type: ignore[attr-defined]
    assert rejected(store) is RejectReason.LEASE_HELD, "not before the renewed term ends"
    store.clock.advance(20)  # type: ignore[attr-defined]
    retry = claim(store, owner="r1-retry")
    assert retry.job.counters == {"objects": 1}
    assert store.clock.now_ms() - dead.lease.started_ms < 60_000 < fifteen_minutes


def test_a_live_holder_whose_lease_lapsed_and_was_taken_over_commits_nothing(
    store: JobStore,
) -> None:
    """The fence, not the lease's length, keeps a slow holder from counting twice."""
    store.create(spec())
    slow = claim(store)
    slow.checkpoint(Progress({"start_after": "k1"}, {"objects": 1}))
    store.clock.advance(store.lease_ms + store.skew_ms + 1)  # type: ignore[attr-defined]
    taker = claim(store, owner="r2")
    with pytest.raises(LeaseLost):
        slow.checkpoint(Progress({"start_after": "k9"}, {"objects": 9}))
    job = store.get("job-1")
    assert job.counters == {"objects": 1} and job.lease_owner == "r2"
    taker.checkpoint(Progress({"start_after": "k2"}, {"objects": 2}))
    assert store.get("job-1").counters == {"objects": 2}


def test_a_lapsed_lease_nobody_took_is_renewed_by_its_holders_next_commit(
    store: JobStore,
) -> None:
    store.create(spec())
    slow = claim(store)
    store.clock.advance(store.lease_ms + store.skew_ms + 5_000)  # type: ignore[attr-defined]
    slow.checkpoint(Progress({"start_after": "k1"}, {"objects": 1}))
    assert store.get("job-1").lease_alive(store.clock.now_ms())
    assert rejected(store) is RejectReason.LEASE_HELD


def test_the_lease_never_outlives_the_holders_deadline_plus_skew(store: JobStore) -> None:
    store.create(spec())
    short = store.claim("job-1", 1, "r1", store.clock.now_ms() + 5_000)
    assert isinstance(short, LeaseHolder)
    deadline = short.lease.deadline_ms
    assert short.lease.expires_ms == deadline + store.skew_ms
    store.clock.advance(4_000)  # type: ignore[attr-defined]
    short.checkpoint(Progress({}, {"objects": 1}))
    assert store.get("job-1").lease_expires_ms == deadline + store.skew_ms


def test_a_second_claim_by_the_holder_is_refused_and_counts_no_hop(store: JobStore) -> None:
    """A claim whose answer was lost is recognised by its token (tests/test_lost_answers.py),
    not by `lease_owner = me`: a second call, or a copy of the first landing late, must not
    count another hop under the live holder."""
    store.create(spec())
    claim(store, owner="r1")
    assert rejected(store, owner="r1") is RejectReason.LEASE_HELD
    assert store.get("job-1").hops == 1


def test_state_over_the_inline_budget_fails_with_the_limit_named(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    noise = base64.b64encode(os.urandom(STATE_INLINE_LIMIT_BYTES * 2)).decode()
    with pytest.raises(StateTooLarge, match="65,536"):
        c.checkpoint(Progress({"noise": noise}, {}))
    assert store.get("job-1").state_blob is None, "nothing was written"


def test_corrupt_state_is_detected(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    c.checkpoint(Progress({"a": 1}, {}))
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=store.table_name,
        Key={"job_id": {"S": "job-1"}},
        UpdateExpression="SET #s = :b",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":b": {"B": b"\x78\x9cnot zlib"}},
    )
    with pytest.raises(StateCorrupt, match="cannot be decoded"):
        store.load_state(store.get("job-1"))


def test_failure_releases_for_retry_then_fails_after_max_attempts(store: JobStore) -> None:
    store.create(spec())
    for attempt in (1, 2):
        c = claim(store, owner=f"r{attempt}")
        outcome = c.record_failure("ValueError: bad", HopEnd(0, "error"))
        assert outcome.will_retry
        assert outcome.job.status is JobStatus.QUEUED and outcome.job.attempts == attempt
        assert outcome.job.epoch == 1 and outcome.job.lease_owner is None
    c = claim(store, owner="r3")
    outcome = c.record_failure("ValueError: bad", HopEnd(0, "error"))
    assert not outcome.will_retry
    assert outcome.job.status is JobStatus.FAILED
    assert outcome.job.last_error == "attempt 3 of 3 failed: ValueError: bad"


def test_checkpoint_resets_attempts_and_reports_operator_requests(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    c.record_failure("x", HopEnd(0, "error"))
    c = claim(store, owner="r2")
    assert c.job.attempts == 1
    store.request_pause("job-1")
    seen = c.checkpoint(Progress({}, {"objects": 1}))
    assert seen.attempts == 0 and seen.pause_requested
    paused = c.stop(JobStatus.PAUSED, HopEnd(1, "paused"))
    assert paused.status is JobStatus.PAUSED and not paused.pause_requested


def test_pause_and_cancel_act_at_once_when_nobody_holds_the_job(store: JobStore) -> None:
    store.create(spec())
    paused = store.request_pause("job-1")
    assert paused.status is JobStatus.PAUSED
    assert store.request_pause("job-1").status is JobStatus.PAUSED, "pausing twice is harmless"
    cancelled = store.request_cancel("job-1")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
    again = store.request_cancel("job-1")
    assert again.status is JobStatus.CANCELLED, "cancelling twice is harmless (the CLI cascades)"
    assert again.finished_at == cancelled.finished_at, "and changes nothing"
    with pytest.raises(IllegalTransition, match="CANCELLED"):
        store.request_pause("job-1")
    with pytest.raises(IllegalTransition, match="cannot be resumed"):
        store.resume("job-1")


def test_resume_fences_the_old_epoch_and_refuses_a_live_lease(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    with pytest.raises(IllegalTransition, match="holds it until"):
        store.resume("job-1")
    c.fail("boom", HopEnd(0, "failed"), Progress({"cursor": "k"}, {"objects": 7}))
    resumed = store.resume("job-1")
    assert resumed.status is JobStatus.QUEUED and resumed.epoch == 2
    assert resumed.attempts == 0 and resumed.finished_at is None
    assert resumed.counters == {"objects": 7}
    assert rejected(store, epoch=1) is RejectReason.STALE_EPOCH
    assert store.load_state(claim(store, epoch=2).job) == {"cursor": "k"}


def test_settle_applies_a_request_seen_at_hand_off(store: JobStore) -> None:
    store.create(spec())
    c = claim(store)
    store.request_cancel("job-1")
    queued = c.hand_off(Progress({}, {}), HopEnd(3, "budget"), {})
    assert queued.cancel_requested
    settled = store.settle_requests(queued)
    assert settled is not None and settled.status is JobStatus.CANCELLED
    assert rejected(store, epoch=2) is RejectReason.TERMINAL


def test_timeline_keeps_the_last_hops_only(store: JobStore) -> None:
    store.create(JobSpec("j", "s3-walk", {"bucket": "b"}, max_hops=100, max_attempts=3))
    for epoch in range(1, RECENT_HOPS_KEPT + 6):
        c = claim(store, "j", epoch=epoch)
        c.hand_off(Progress({}, {}), HopEnd(epoch, "budget"), {"step_ms": 1})
    hops = store.get("j").recent_hops
    assert len(hops) == RECENT_HOPS_KEPT
    assert hops[-1].epoch == RECENT_HOPS_KEPT + 5 and hops[-1].items == RECENT_HOPS_KEPT + 5
    assert hops[0].epoch == 6


def test_audit_records_every_commit(store: JobStore) -> None:
    events: list[object] = []
    store.audit = events.append
    store.create(spec())
    c = claim(store)
    c.finish(Progress({}, {}), HopEnd(0, "finished"))
    assert [e.op for e in events] == ["create", "claim", "finish"]  # type: ignore[attr-defined]


def test_a_live_holder_on_its_last_hop_is_reported_as_holding_it(store: JobStore) -> None:
    store.create(JobSpec("last", "s3-walk", {"bucket": "b"}, max_hops=1, max_attempts=3))
    claim(store, "last")
    assert rejected(store, "last") is RejectReason.LEASE_HELD


def test_a_late_landing_of_an_earlier_holder_write_cannot_undo_a_later_one(
    store: JobStore,
) -> None:
    """A request still on the wire after its timeout may land after the holder's next write;
    the chain in the holder's fence (last_write) refuses it."""
    client = store.model._get_connection().connection.client
    sent: list[dict[str, object]] = []

    def keep(params: dict[str, object], model: object, **_: object) -> None:
        if getattr(model, "name", "") == "UpdateItem":
            sent.append(dict(params))

    client.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem", keep, unique_id="keep"
    )
    store.create(spec())
    c = claim(store)
    c.checkpoint(Progress({"start_after": "a"}, {"objects": 1, "bytes": 1}))
    early = sent[-1]
    c.checkpoint(Progress({"start_after": "b"}, {"objects": 2, "bytes": 2}))
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.update_item(**early)
    assert store.get("job-1").counters == {"objects": 2, "bytes": 2}
    c.checkpoint(Progress({"start_after": "c"}, {"objects": 3, "bytes": 3}))


def test_a_claim_sent_twice_counts_one_hop(store: JobStore) -> None:
    from tests.support import lost_answers as la

    hook = la.LoseAnswers()
    la.install(store.model._get_connection().connection.client, hook)
    store.create(JobSpec("twice", "s3-walk", {"bucket": "b"}, max_hops=1, max_attempts=3))
    hook.lose(la.claim_write)
    got = claim(store, "twice")
    assert not hook.armed and hook.landed == [("UpdateItem", 200)]
    assert got.job.hops == 1 and store.get("twice").hops == 1
    got.finish(Progress({}, {}), HopEnd(0, "finished"))
    assert store.get("twice").status is JobStatus.SUCCEEDED


def test_watchdog_restarts_keep_the_item_attribute_rearms(store: JobStore) -> None:
    """Job.restarts is stored as `rearms`, its name before the rename: items written by an
    earlier version read unchanged, and progress clears the count."""
    store.create(spec())
    raw = boto3.client("dynamodb", region_name="us-east-1")
    key = {"job_id": {"S": "job-1"}}
    raw.update_item(
        TableName=store.table_name,
        Key=key,
        UpdateExpression="SET rearms = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    job = store.get("job-1")
    assert job.restarts == 2, "an item written before the rename reads its count"
    nudged = store.nudge(job)
    assert nudged.restarts == 3
    item = raw.get_item(TableName=store.table_name, Key=key)["Item"]
    assert item["rearms"] == {"N": "3"} and "restarts" not in item
    c = claim(store)
    c.checkpoint(Progress({"start_after": "k"}, {"objects": 1}))
    assert store.get("job-1").restarts == 0
    assert "rearms" not in raw.get_item(TableName=store.table_name, Key=key)["Item"]


def test_a_state_with_a_non_string_key_or_a_cycle_is_refused_not_changed() -> None:
    """json.dumps would turn {1: x} into {"1": x} without a word; a cycle must not hang the
    check that looks for such keys."""
    from baton.store.codec import to_json_bytes
    from baton.store.errors import StateNotJson

    with pytest.raises(StateNotJson, match=r"state\['a'\]\[0\]: key 1 \(int\)"):
        to_json_bytes({"a": [{1: "x"}]})
    loop: list[object] = []
    loop.append({"back": loop})
    with pytest.raises(StateNotJson, match="Circular reference"):
        to_json_bytes({"loop": loop})
    shared = {"k": 1}
    assert to_json_bytes({"a": shared, "b": shared}) == b'{"a":{"k":1},"b":{"k":1}}'
