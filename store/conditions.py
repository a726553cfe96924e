"""Every condition of the hand-off protocol: the table below, and the clauses it is built from.

Every operation is one conditional write on the job item, and the condition is the whole safety
argument. A write by the lease holder carries `epoch = e AND lease_owner = me AND last_write IN
(my last write, my writes of unknown outcome)` (`held`): the last clause chains the holder's
writes, so an earlier write that lands late (a request still on the wire after its timeout) can
never undo a later one. The claim that starts the chain is chained too: it names the `last_write`
it read (`claimable`). An operator's direct transition carries the status and epoch it read plus
"no live lease" (`unheld`).

Every write goes through `baton.store.writes.Writer`, which owns the outcome rule: applied (this
attempt, or an earlier attempt of the same call retried by botocore after a lost answer: its
token is on the item), refused (the item moved on), or unknown (`WriteUnknown`).

A write may also land twice: botocore gives up on an attempt still on the wire (a read timeout)
and sends the request again; the retry lands, and the first attempt reaches DynamoDB later, after
whatever came next (within minutes at most: DynamoDB refuses a request whose signature is older
than 15). Each row says what such a late copy does; tests/test_late_copies.py holds one test per
row, and the simulator's late-copy fault (`Rates.late_copy`) strikes every write.

operation      | condition                        | effect                  | a refusal means
---------------|----------------------------------|-------------------------|--------------------
create         | no item with this id             | QUEUED, epoch 1         | the id exists: same
               |                                  |                         | task+params is the
               |                                  |                         | same job, else
               |                                  |                         | JobConflict
    late copy: refused (the item its retry created exists).
create shard   | as create, in one transaction    | as create               | ParentStopped: no
(guarded)      | with: the parent is RUNNING,     |                         | shard after an
               | held by the launching lease, no  |                         | accepted request
               | cancel or pause flag             |                         |
    late copy: refused (the Put's condition; on DynamoDB the ClientRequestToken already
    answers a resend within 10 minutes without writing).
claim          | read first; epoch = e, QUEUED or | RUNNING, lease for one  | classified from the
               | RUNNING, lease free or expired,  | term (to the deadline   | item read back; one
               | hops < max_hops, last_write as   | at most) + skew,        | that only met a
               | read                             | hops + 1                | write between its
               |                                  |                         | read and its write
               |                                  |                         | reads again; else
               |                                  |                         | the event is
               |                                  |                         | discarded
    late copy: refused: its retry (or any later write with a token) changed last_write, so it
    never counts a second hop nor takes the holder's chain of writes back.
checkpoint     | held: epoch = e, lease_owner =   | state, counters,        | LeaseLost: stop,
               | me, last_write in my chain       | attempts 0, lease       | invoke nothing
               |                                  | renewed for one term    |
    late copy (of this and every held write below): refused: its retry moved last_write to its
    own token, which the copy's condition does not name.
hand off       | held                             | state, counters, epoch  | LeaseLost
               |                                  | e + 1, QUEUED, no lease |
park           | held                             | as hand off, and        | LeaseLost
(a fan-out     |                                  | waiting_for set, the    |
parent waits)  |                                  | hop counted in waits,   |
               |                                  | not hops; no event sent |
    late copy: refused, as every held write's. Whoever ends the wait sends the event of epoch
    e + 1 (a shard as it stops, the watchdog as a backstop); the claim of that epoch, an
    operator's cancel, pause or resume and a stall verdict remove waiting_for.
finish         | held                             | state, counters,        | LeaseLost
               |                                  | SUCCEEDED, TTL          |
fail           | held                             | FAILED (+ state and     | LeaseLost
               |                                  | counters when given)    |
release        | held                             | QUEUED, no lease,       | LeaseLost
(task error)   |                                  | attempts + 1            |
stop           | held                             | PAUSED or CANCELLED     | LeaseLost
cancel/pause   | status, epoch as read, no live   | CANCELLED or PAUSED     | ChangedMeanwhile:
(unheld)       | lease                            | (+ whose pause it is)   | read, decide again
    late copy: refused: its retry changed the status it read.
cancel/pause   | RUNNING, epoch and owner as read | flag set (no token:     | ChangedMeanwhile
flag (held)    |                                  | idempotent)             |
    late copy: lands while the same holder runs, setting the same flag again (harmless); once
    that holder stopped or handed off, refused (status or owner moved).
pause by name  | PAUSED by the parent's cascade,  | no longer the cascade's | ChangedMeanwhile
of a shard     | epoch as read                    | (no token: idempotent)  |
    late copy: refused: the marker it removes is gone.
resume         | status, epoch as read, no live   | epoch + 1, QUEUED,      | IllegalTransition
               | lease (+ skew with --force; +    | attempts 0              |
               | still the cascade's pause, for a |                         |
               | parent resuming its shard)       |                         |
    late copy: refused: its retry moved the epoch.
watchdog nudge | QUEUED, epoch and updated_at as  | restarts + 1            | ChangedMeanwhile:
               | read, no lease                   |                         | the chain moved
    late copy: refused: its retry moved updated_at.
watchdog rearm | status, epoch as read, no live   | epoch + 1, QUEUED,      | ChangedMeanwhile
               | lease                            | restarts + 1            |
    late copy: refused: its retry moved the epoch.
fail stalled   | status, epoch as read, no live   | FAILED                  | ChangedMeanwhile
               | lease                            |                         |
fail exhausted | as read, no live lease, hops >=  | FAILED (keeps the last  | moved on: left alone
               | max_hops                         | failed hop's error)     |
    late copy (of both): refused: its retry changed the status it read.
fail corrupt   | the item exists                  | FAILED                  | it is gone
    late copy: lands again: FAILED with the same reason (the attributes a condition would
    test are the broken ones). Only an operator's repair and resume, minutes later, beyond a
    copy's life, could come between.

"No live lease" (`no_live_lease`, in `unheld`) is what keeps every write above by someone who
does not hold the lease off a holder that claimed after the write's read: without it a resume,
re-arm or stall verdict read on a dead holder's expired lease would fence the live one that just
took over, throw away its work since its claim and send a second chain over the same objects
(tests/test_live_holder_fence.py).

The rows are built from these clauses (each a function below, named for what it asks of the
item; the hop limit's own two live with the rest of that rule in store/hop_limit.py):

clause                  | asks                                 | used by
------------------------|--------------------------------------|-------------------------------
item_not_exist          | no item with this id                 | create, create shard
item_exists             | the item exists                      | fail corrupt
no_live_lease           | no lease_owner, or its lease expired | claim, every unheld write
last_write_as_read      | last_write is still the one read     | claim
hops_left, hops_used_up | hops < max_hops, hops >= max_hops    | claim, fail exhausted
held                    | epoch, lease_owner, the holder chain | every write of the holder
launching               | held by the lease, RUNNING, no flag  | create shard (the guard)
unheld                  | epoch, status as read + no live lease| cancel/pause, resume, watchdog
queued_as_read          | QUEUED, epoch, updated_at as read    | watchdog nudge
running_under           | RUNNING, epoch and owner as read     | cancel/pause flag
paused_by_cascade       | PAUSED by the cascade, epoch as read | pause by name of a shard
still_paused_by_cascade | the cascade's pause is still on it   | a parent resuming its shard

Nothing here deletes a state object the item may point to: a spilled object written for a write
that was refused or of unknown outcome is left to the bucket's lifecycle rule; only the object a
holder's applied commit superseded is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.expressions.condition import Condition

from baton.store.hop_limit import hops_left
from baton.store.model import JobModel
from baton.store.records import Job, JobStatus, Lease

Model = type[JobModel]


def item_not_exist(m: Model) -> Condition:
    """No item with this id (a create)."""
    condition: Condition = m.job_id.does_not_exist()
    return condition


def item_exists(m: Model) -> Condition:
    """The item exists, whatever its attributes say (the end of a malformed item)."""
    condition: Condition = m.job_id.exists()
    return condition


def no_live_lease(m: Model, now: int) -> Condition:
    """Nobody holds the item, or its holder's lease expired before `now`."""
    condition: Condition = m.lease_owner.does_not_exist() | (m.lease_expires_ms < now)
    return condition


def last_write_as_read(m: Model, seen: JobModel | None) -> Condition:
    """The item's last tokened write is still the one `seen` carries."""
    if seen is None or seen.last_write is None:
        return item_last_write_absent(m)
    condition: Condition = m.last_write == seen.last_write
    return condition


def item_last_write_absent(m: Model) -> Condition:
    """No tokened write has landed on the item yet."""
    condition: Condition = m.last_write.does_not_exist()
    return condition


def claimable(m: Model, epoch: int, now: int, seen: JobModel | None) -> Condition:
    """A claim of `epoch`: QUEUED or RUNNING at that epoch, no live lease, a hop left, and the
    item as read (so a copy of the claim landing late is refused)."""
    condition: Condition = (
        (m.epoch == epoch)
        & m.status.is_in(JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        & no_live_lease(m, now)
        & hops_left(m)
        & last_write_as_read(m, seen)
    )
    return condition


def held(m: Model, lease: Lease, chain: Iterable[str]) -> Condition:
    """The holder's fence: its epoch, its lease, and the chain of its own writes (`chain`: the
    token of its last applied write, then those of its writes of unknown outcome)."""
    condition: Condition = (
        (m.epoch == lease.epoch) & (m.lease_owner == lease.owner) & m.last_write.is_in(*chain)
    )
    return condition


def no_cancel_request(m: Model) -> Condition:
    """No operator's cancel flag on the item."""
    condition: Condition = m.cancel_requested.does_not_exist() | (
        m.cancel_requested == False  # noqa: E712
    )
    return condition


def no_pause_request(m: Model) -> Condition:
    """No operator's pause flag on the item."""
    condition: Condition = m.pause_requested.does_not_exist() | (
        m.pause_requested == False  # noqa: E712
    )
    return condition


def launching(m: Model, lease: Lease) -> Condition:
    """A fan-out parent may start a shard: still held by `lease`, and no cancel or pause
    request on it (an operator's flag is set without a token, so the holder's fence alone
    would not see it)."""
    condition: Condition = (
        (m.epoch == lease.epoch)
        & (m.lease_owner == lease.owner)
        & (m.status == JobStatus.RUNNING.value)
        & no_cancel_request(m)
        & no_pause_request(m)
    )
    return condition


def unheld(m: Model, job: Job, now: int) -> Condition:
    """The item is as read (epoch, status) and no live invocation holds it.

    `now` may include a grace period: resume --force passes now + clock skew.
    """
    condition: Condition = (
        (m.epoch == job.epoch) & (m.status == job.status.value) & no_live_lease(m, now)
    )
    return condition


def queued_as_read(m: Model, job: Job) -> Condition:
    """QUEUED and unheld, nothing written since the read (its epoch and updated_at)."""
    condition: Condition = (
        (m.epoch == job.epoch)
        & (m.status == JobStatus.QUEUED.value)
        & m.lease_owner.does_not_exist()
        & (m.updated_at == job.updated_at)
    )
    return condition


def running_under(m: Model, job: Job) -> Condition:
    """RUNNING at the epoch read, under the holder read (an operator's flag for that holder)."""
    condition: Condition = (
        (m.epoch == job.epoch)
        & (m.status == JobStatus.RUNNING.value)
        & (m.lease_owner == job.lease_owner)
    )
    return condition


def still_paused_by_cascade(m: Model) -> Condition:
    """The pause on the item is still the parent's cascade's (no operator took it since)."""
    condition: Condition = m.pause_cascaded == True  # noqa: E712
    return condition


def paused_by_cascade(m: Model, job: Job) -> Condition:
    """PAUSED by its parent's cascade, at the epoch read."""
    condition: Condition = (
        (m.epoch == job.epoch) & (m.status == JobStatus.PAUSED.value) & still_paused_by_cascade(m)
    )
    return condition
