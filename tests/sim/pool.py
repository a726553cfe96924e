"""A work pool for the simulator: submitted work runs inline, in an order the chooser picks.

Real threads do not fit the cooperative scheduler (an actor's work must run on the actor's own
thread, where its yield points and faults are). So `submit` only queues, and `wait_settled` runs
one of the running items to completion in the calling actor's thread, picked by the chooser:
objects finish out of key order, a slow one holds the watermark back while later ones finish,
and a crash (a kill at any yield point inside an item) strikes with other items still in flight,
all replayable from the tape. The timeout is ignored: virtual time passes inside the item.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from tests.sim.core import Sim

T = TypeVar("T")


class SimPool:
    def __init__(self, sim: Sim, workers: int) -> None:
        self.sim = sim
        self.workers = workers
        self._work: dict[Future[Any], Callable[[], Any]] = {}
        self._settled = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._work[future] = fn
        return future

    def settled(self) -> int:
        return self._settled

    def pending(self) -> int:
        return len(self._work)

    def wait_settled(self, seen: int, timeout_s: float | None) -> None:
        # Only the first `workers` submitted items are "running"; the chooser picks among them.
        running = list(self._work)[: self.workers]
        if not running or self._settled > seen:
            return
        index = self.sim.chooser.below(len(running))
        if index:
            self.sim.stats["pool_out_of_order"] += 1
        future = running[index]
        fn = self._work.pop(future)
        self._settled += 1
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn()
        except Exception as exc:
            future.set_exception(exc)
        except BaseException:
            if self._work:
                self.sim.stats["pool_crash_in_flight"] += 1
            if len(self._work) >= self.workers:  # beyond the other workers: queued, not begun
                self.sim.stats["pool_crash_queued"] += 1
            raise
        else:
            future.set_result(result)

    def close(self) -> None:
        for future in self._work:
            future.cancel()
        self._work.clear()
