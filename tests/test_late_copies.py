"""A copy of a write that lands late changes nothing: every write of the protocol, one by one.

Each test sends one write of the store with its first attempt held back on the wire
(tests/support/late_copies.py): botocore's retry lands at once, the job moves on with the
writes that naturally follow, and then the held first attempt reaches DynamoDB. The copy must be
refused (or, for the one write with no condition a late copy could fail, be harmless), and the
job's next writes must still go through. `store/conditions.py`'s table says, row by row, what a
late copy of that write does; these tests are that column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from baton.store import HopEnd, JobSpec, JobStatus, JobStore, Progress
from baton.store.lease_holder import LeaseHolder
from tests.support import late_copies as lc
from tests.support import lost_answers as la
from tests.support.memory_store import memory_store

DEADLINE_MS = 60_000
JOB = "late-1"


@pytest.fixture
def store() -> Iterator[tuple[JobStore, lc.HoldCopies]]:
    with memory_store() as s:
        hook = lc.HoldCopies()
        lc.install(s.model._get_connection().connection.client, hook)
        yield s, hook


def create(store: JobStore, job_id: str = JOB, max_hops: int = 10) -> None:
    store.create(JobSpec(job_id, "s3-walk", {"bucket": "b"}, max_hops=max_hops, max_attempts=3))


def claim(store: JobStore, epoch: int = 1, owner: str = "r1") -> LeaseHolder:
    result = store.claim(JOB, epoch, owner, store.clock.now_ms() + DEADLINE_MS)
    assert isinstance(result, LeaseHolder), result
    return result


def progress(n: int) -> Progress:
    return Progress({"cursor": n}, {"objects": n})


def snapshot(store: JobStore) -> dict[str, Any]:
    client = store.model._get_connection().connection.client
    item = client.get_item(
        TableName=store.table_name, Key={"job_id": {"S": JOB}}, ConsistentRead=True
    )["Item"]
    return dict(item)


def land_refused(store: JobStore, hook: lc.HoldCopies) -> None:
    """The held copy lands now: refused, and the item is exactly as it was."""
    before = snapshot(store)
    held = hook.land()
    assert held.refused, f"the late copy of {held.op} was applied: {held.status} {held.answer!r}"
    assert snapshot(store) == before


# ------------------------------------------------------------------ the claim (defect 1)


def test_a_late_copy_of_the_claim_does_not_undo_the_holders_checkpoints(
    store: tuple[JobStore, lc.HoldCopies],
) -> None:
    """The first attempt of a claim lands after the hop's first checkpoint: it must not count a
    second hop nor take `last_write` back, or the holder's next commit is refused (lease_lost,
    no next event, the job stuck RUNNING until the watchdog)."""
    s, hook = store
    create(s)
    hook.hold(la.claim_write)
    c = claim(s)
    assert not hook.armed, "the claim was not held: the test proves nothing"
    c.checkpoint(progress(1))
    land_refused(s, hook)
    c.checkpoint(progress(2))  # the chain of the holder's writes is intact
    job = c.hand_off(progress(3), HopEnd(3, "budget"), {})
    assert job.hops == 1 and job.epoch == 2 and job.status is JobStatus.QUEUED


def test_a_late_copy_of_the_claim_does_not_take_a_released_lease_back(
    store: tuple[JobStore, lc.HoldCopies],
) -> None:
    """The same copy landing after the hop released its failed attempt must leave the job free
    for Lambda's retry, not hold it as `lease_held` for a finished invocation."""
    s, hook = store
    create(s)
    hook.hold(la.claim_write)
    c = claim(s)
    c.record_failure("boom", HopEnd(0, "error"))
    land_refused(s, hook)
    retry = claim(s, owner="r2")
    assert retry.job.hops == 2 and retry.job.attempts == 1


def test_a_late_copy_of_the_claim_after_the_hand_off_is_refused(
    store: tuple[JobStore, lc.HoldCopies],
) -> None:
    s, hook = store
    create(s)
    hook.hold(la.claim_write)
    c = claim(s)
    c.hand_off(progress(1), HopEnd(1, "budget"), {})
    land_refused(s, hook)
    assert claim(s, epoch=2, owner="r2").job.hops == 2


def test_a_claim_that_meets_a_write_between_its_read_and_its_write_decides_again(
    store: tuple[JobStore, lc.HoldCopies],
) -> None:
    """The claim names the last write it read; a write that lands in between (here an
    operator's re-send counted by the watchdog) refuses it once, and it reads and claims again
    rather than discarding a good event."""
    s, _ = store
    create(s)
    real_read = s.writer.read
    moved = []

    def read_then_nudge(job_id: str) -> Any:
        item = real_read(job_id)
        if not moved:
            moved.append(s.nudge(s.get(job_id)))
        return item

    s.writer.read = read_then_nudge  # type: ignore[method-assign]
    result = s.claim(JOB, 1, "r1", s.clock.now_ms() + DEADLINE_MS)
    assert moved and isinstance(result, LeaseHolder), result
    assert result.job.hops == 1


# ------------------------------------------------------------------ every other write


def expire(store: JobStore) -> None:
    store.clock.advance(DEADLINE_MS + store.skew_ms + 1)  # type: ignore[attr-defined]


def late_checkpoint(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    hook.hold(la.checkpoint_write)
    c.checkpoint(progress(1))
    c.checkpoint(progress(2))
    land_refused(s, hook)  # the chain: last_write is the second checkpoint's
    c.checkpoint(progress(3))


def late_hand_off(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    hook.hold(la.hand_off_write)
    c.hand_off(progress(1), HopEnd(1, "budget"), {})
    land_refused(s, hook)  # the epoch moved on (and the lease is gone)
    claim(s, epoch=2, owner="r2")
    land_refused(s, hook)


def late_park(s: JobStore, hook: lc.HoldCopies) -> None:
    """A parked job's late copy finds it woken (claimed at the next epoch), or parked again."""
    c = claim(s)
    hook.hold(la.hand_off_write)
    c.park(progress(1), HopEnd(0, "waiting"), {}, "shards")
    land_refused(s, hook)
    woken = claim(s, epoch=2, owner="r2")
    land_refused(s, hook)  # the wake's claim removed waiting_for: the copy must not set it
    woken.park(progress(1), HopEnd(0, "waiting"), {}, "shards")
    land_refused(s, hook)
    assert s.get(JOB).waits == 2


def late_finish(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    hook.hold(la.status_write("SUCCEEDED"))
    c.finish(progress(1), HopEnd(1, "finished"))
    land_refused(s, hook)


def late_fail(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    hook.hold(la.status_write("FAILED"))
    c.fail("bad", HopEnd(0, "failed"))
    s.resume(JOB)
    land_refused(s, hook)  # the resume moved the epoch and removed the lease


def late_release(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    hook.hold(la.release_write)
    c.record_failure("boom", HopEnd(0, "error"))
    land_refused(s, hook)
    claim(s, owner="r2")  # Lambda's retry
    land_refused(s, hook)


def late_stop(s: JobStore, hook: lc.HoldCopies) -> None:
    c = claim(s)
    s.request_pause(JOB)
    hook.hold(la.status_write("PAUSED"))
    c.stop(JobStatus.PAUSED, HopEnd(0, "paused"))
    s.resume(JOB)
    land_refused(s, hook)


def late_flag(s: JobStore, hook: lc.HoldCopies) -> None:
    """The one write without a token: setting the flag again is harmless while the same holder
    runs, and once the holder stopped (or handed off) the copy is refused."""
    c = claim(s)
    hook.hold(la.flag_write("pause_requested"))
    s.request_pause(JOB)
    held = hook.land()
    assert not held.refused  # the same flag on the same holder: nothing changes
    c.stop(JobStatus.PAUSED, HopEnd(0, "paused"))
    land_refused(s, hook)
    s.resume(JOB)
    land_refused(s, hook)


def late_direct_pause(s: JobStore, hook: lc.HoldCopies) -> None:
    hook.hold(la.status_write("PAUSED"))
    s.request_pause(JOB)
    s.resume(JOB)
    land_refused(s, hook)  # the resume moved the epoch and the status


def late_resume(s: JobStore, hook: lc.HoldCopies) -> None:
    s.request_pause(JOB)
    hook.hold(la.resume_write)
    s.resume(JOB)
    claim(s, epoch=2)
    land_refused(s, hook)


def late_nudge(s: JobStore, hook: lc.HoldCopies) -> None:
    hook.hold(la.nudge_write)
    s.nudge(s.get(JOB))
    land_refused(s, hook)  # updated_at moved with the nudge itself
    claim(s)
    land_refused(s, hook)


def late_rearm(s: JobStore, hook: lc.HoldCopies) -> None:
    claim(s)
    expire(s)
    hook.hold(la.rearm_write)
    s.rearm(s.get(JOB))
    land_refused(s, hook)
    claim(s, epoch=2, owner="r2")
    land_refused(s, hook)


def late_fail_stalled(s: JobStore, hook: lc.HoldCopies) -> None:
    claim(s)
    expire(s)
    hook.hold(la.status_write("FAILED"))
    s.fail_stalled(s.get(JOB), "no progress")
    s.resume(JOB)
    land_refused(s, hook)


def late_create(s: JobStore, hook: lc.HoldCopies) -> None:
    s.create(JobSpec("late-2", "s3-walk", {"bucket": "b"}, max_hops=10, max_attempts=3))
    # (The fixture's job exists; a copy of any create finds its item.)
    hook.hold(la.put_write)
    s.create(JobSpec("late-3", "s3-walk", {"bucket": "b"}, max_hops=10, max_attempts=3))
    held = hook.land()
    assert held.status == 400 and b"ConditionalCheckFailed" in held.answer


def late_create_shard(s: JobStore, hook: lc.HoldCopies) -> None:
    parent = claim(s)  # the fixture's job is the fan-out parent here
    hook.hold(lambda op, body: op == "TransactWriteItems")
    spec = JobSpec("late-1.s0000", "s3-walk", {"bucket": "b"}, 10, 3, parent_id=JOB)
    s.create(spec, under=parent.lease)
    before = s.get("late-1.s0000")
    held = hook.land()
    assert held.status == 400 and b"ConditionalCheckFailed" in held.answer, held.answer
    assert s.get("late-1.s0000") == before


def late_fail_exhausted(s: JobStore, hook: lc.HoldCopies) -> None:
    claim(s).record_failure("boom", HopEnd(0, "error"))
    s.resume(JOB, max_hops=2)
    claim(s, epoch=2, owner="r2").record_failure("boom", HopEnd(0, "error"))
    hook.hold(la.status_write("FAILED"))  # both hops used: the retry's claim is refused
    assert s.fail_exhausted(s.get(JOB)) is not None
    s.resume(JOB, max_hops=5)
    land_refused(s, hook)


def late_fail_corrupt(s: JobStore, hook: lc.HoldCopies) -> None:
    """The one write a late copy lands again: the item is malformed, so only its existence is
    tested; the copy writes the same FAILED verdict again."""
    hook.hold(la.status_write("FAILED"))
    assert s.fail_corrupt(JOB, "params is not a map")
    before = s.get(JOB)
    held = hook.land()
    assert held.status == 200
    after = s.get(JOB)
    assert after.status is JobStatus.FAILED and after.last_error == before.last_error


def late_own_pause(s: JobStore, hook: lc.HoldCopies) -> None:
    """An operator pauses by name a shard its parent's cascade paused."""
    c = claim(s)
    s.request_pause(JOB, cascaded=True)
    c.stop(JobStatus.PAUSED, HopEnd(0, "paused"))
    assert s.get(JOB).pause_cascaded
    hook.hold(lambda op, body: la.update(op))
    s.request_pause(JOB)
    assert not s.get(JOB).pause_cascaded
    land_refused(s, hook)


LATE: dict[str, Callable[[JobStore, lc.HoldCopies], None]] = {
    "checkpoint": late_checkpoint,
    "hand off": late_hand_off,
    "park": late_park,
    "finish": late_finish,
    "fail": late_fail,
    "release": late_release,
    "stop": late_stop,
    "flag": late_flag,
    "cancel/pause (unheld)": late_direct_pause,
    "resume": late_resume,
    "watchdog nudge": late_nudge,
    "watchdog rearm": late_rearm,
    "fail stalled": late_fail_stalled,
    "fail exhausted": late_fail_exhausted,
    "fail corrupt": late_fail_corrupt,
    "pause by name": late_own_pause,
    "create": late_create,
    "create shard": late_create_shard,
}


@pytest.mark.parametrize("write", list(LATE))
def test_a_late_copy_of_each_write_changes_nothing(
    store: tuple[JobStore, lc.HoldCopies], write: str
) -> None:
    s, hook = store
    create(s)
    LATE[write](s, hook)
    assert hook.held and not hook.armed, "no copy was held: the test proves nothing"
