"""A work pool for the simulator: submitted work runs inline, in an order the chooser picks.

Real threads do not fit the cooperative scheduler (an actor's work must run on the actor's own
thread, where its yield points and faults are). So `submit` only queues, and `wait_any` runs one
of the waited-for items to completion in the calling actor's thread, picked by the chooser:
objects finish out of key order, a slow one holds the watermark back while later ones finish,
and a crash (a kill at any yield point inside an item) strikes with other items still in flight,
all replayable from the tape. The timeout is ignored: virtual time passes inside the item.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import Any, TypeVar

from tests.sim.core import Sim

T = TypeVar("T")


class SimPool:
    def __init__(self, sim: Sim, workers: int) -> None:
        self.sim = sim
        self.workers = workers
        self._work: dict[Future[Any], Callable[[], Any]] = {}

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._work[future] = fn
        return future

    def wait_any(self, futures: Collection[Future[Any]], timeout_s: float | None) -> None:
        # Only the first `workers` submitted items are "running"; the chooser picks among them.
        queued = [f for f in self._work if f in futures][: self.workers]
        if not queued or any(f.done() for f in futures):
            return
        index = self.sim.chooser.below(len(queued))
        if index:
            self.sim.stats["pool_out_of_order"] += 1
        future = queued[index]
        fn = self._work.pop(future)
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn()
        except Exception as exc:
            future.set_exception(exc)
        except BaseException:
            if self._work:
                self.sim.stats["pool_crash_in_flight"] += 1
            raise
        else:
            future.set_result(result)

    def close(self) -> None:
        for future in self._work:
            future.cancel()
        self._work.clear()
