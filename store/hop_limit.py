"""The recursion guard: a job runs at most `max_hops` hops, all of this rule in one place.

A claim counts a hop and is refused once `hops` reached `max_hops`; the job then ends FAILED
with its cursor kept, by its last holder (when its hop would have handed off) or by the event
that found it out of hops (`fail_exhausted`). A resume may raise `max_hops`, never below the hops
used. A parked hop (waiting on shards) is moved from `hops` to `waits`: waiting is not work, and
a parent woken once per shard must not run out of hops over 10,000 shards.
"""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from baton.store.model import JobModel
from baton.store.records import Job


def used_up(hops: int, max_hops: int) -> bool:
    """No hop is left: the next claim would be refused."""
    return hops >= max_hops


def out_of_hops(job: Job) -> bool:
    """The job as read has used all its hops."""
    return used_up(job.hops, job.max_hops)


def reached(max_hops: int) -> str:
    """The last_error of a job stopped by its recursion guard."""
    return (
        f"max_hops reached: the job used all {max_hops} hops; its cursor is kept, "
        f"resume with a higher max_hops to continue"
    )


def exhausted_error(job: Job) -> str:
    """Why a job found out of hops at a claim ends FAILED."""
    error = reached(job.max_hops)
    if job.attempts and job.last_error:
        # The last hop failed and was released for a retry that has no hop left: its error
        # is why the job stopped, and what to fix before resuming with more hops.
        error = f"{error}; the last hop had failed: {job.last_error}"
    return error


def hops_left(m: type[JobModel]) -> Condition:
    """Condition clause: the item has a hop left (every claim carries it)."""
    condition: Condition = m.hops < m.max_hops
    return condition


def hops_used_up(m: type[JobModel]) -> Condition:
    """Condition clause: the item has no hop left (ending a job out of hops carries it)."""
    condition: Condition = m.hops >= m.max_hops
    return condition


def count_hop(m: type[JobModel]) -> Action:
    """The claim's count of the hop it starts."""
    return m.hops.add(1)


def wait_not_counted(m: type[JobModel]) -> list[Action]:
    """A parked hop moved from `hops` to `waits`."""
    return [m.hops.add(-1), m.waits.add(1)]
