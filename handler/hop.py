"""One invocation's share of a job: the lease it holds, its task and the work done so far."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.handler.lease_renewal import LeaseRenewal
from baton.handler.tasks.framework.base import Task
from baton.store.lease_holder import LeaseHolder
from baton.store.records import Counters, HopEnd, Job, Progress


@dataclass
class Hop:
    """One invocation's share of a job: the lease, the task and the work done so far."""

    holder: LeaseHolder
    counters: Counters
    items_at_start: int
    task: Task | None = None
    state: Any = None
    steps: int = 0
    lease: LeaseRenewal | None = None

    @property
    def job(self) -> Job:
        return self.holder.job

    def items(self) -> int:
        """Items done this hop: growth of the task's progress counter, else steps."""
        name = self.task.progress_counter if self.task else None
        if name:
            return self.counters.get(name, 0) - self.items_at_start
        return self.steps

    def progress(self) -> Progress:
        return Progress(self.state, self.counters)

    def end(self, why: str) -> HopEnd:
        return HopEnd(self.items(), why)
