"""When the lease holder must commit to keep its lease.

A lease lasts one term (`BATON_LEASE_MS`) from the holder's claim or last checkpoint, so that a
hop that died early leaves a lease Lambda's first retry, about a minute later, can take over. A
live holder must therefore commit before its term runs out: after each step it checkpoints
early when the term left would not cover one more step and its commit (the job's slowest recent
step and write, with the budget's safety factor). Time is counted in the Lambda context's
remaining milliseconds, read just before the write that took or renewed the lease, which is
earlier than the moment the store stamped it: the estimate errs on the side of renewing.

A step slower than a whole term cannot be covered: the lease lapses while it runs. That is safe
(another invocation that takes the lapsed lease fences this one off, and its later writes are
refused), but it wastes the step, so the hop says so once, with the setting to raise.
"""

from __future__ import annotations

from baton.handler.budget import SAFETY_FACTOR, TimeBudget
from baton.handler.observability import count, logger


class LeaseRenewal:
    def __init__(self, lease_ms: int, taken_at_remaining_ms: int) -> None:
        self.lease_ms = lease_ms
        self._ends_at = taken_at_remaining_ms - lease_ms
        self._warned = False

    def renewed(self, at_remaining_ms: int) -> None:
        """A checkpoint, sent when `at_remaining_ms` was left, renewed the lease."""
        self._ends_at = at_remaining_ms - self.lease_ms

    def left_ms(self, now_remaining_ms: int) -> int | None:
        """Term left by the holder's own clock; None when the lease runs to the deadline (a
        renewal cannot extend it: Lambda ends the hop there)."""
        if self._ends_at <= 0:
            return None
        return now_remaining_ms - self._ends_at

    def due(self, now_remaining_ms: int, budget: TimeBudget) -> bool:
        """Whether to commit now, before the next step, to keep the lease: when the term left
        would not cover the next step and its commit, but never in the first third of a term
        (with steps and writes that slow, committing after every step would leave no time to
        work; the lease may then lapse during a step, which the fence makes safe)."""
        left = self.left_ms(now_remaining_ms)
        if left is None or self.lease_ms - left < self.lease_ms // 3:
            return False
        room = int(SAFETY_FACTOR * (budget.step_ms() + budget.write_ms()))
        if room >= self.lease_ms and not self._warned:
            self._warned = True
            count("LeaseShorterThanStep")
            logger.warning(
                "a step and its commit take longer than the lease term: the lease may lapse "
                "while a step runs (safe, but another invocation may take the job over and "
                "this hop's work since its last commit is done again); raise BATON_LEASE_MS",
                extra={"step_ms": budget.step_ms(), "lease_ms": self.lease_ms},
            )
        return left <= room
