"""A pool of threads a hop runs I/O-bound work on, behind a small interface.

The interface exists so that the same walk code runs on real threads in Lambda and, in the
protocol simulator, on a deterministic pool that runs submitted work inline in a chosen order
(threads do not fit a cooperative scheduler). A pool serves one hop and is closed at its end;
work still running then is abandoned, never waited for: whatever it would have produced is not
committed, and the next hop does it again (at-least-once).

The caller learns that work settled from one counter rather than by watching each future, so
keeping a pool of N busy costs the caller the same few operations per object at any N
(`concurrent.futures.wait` takes and releases every watched future's lock twice per call).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# The most workers one hop's pool may have (s3-walk's `concurrency` is capped at it). The S3
# client is sized from it: a worker that finds no free connection in botocore's pool waits for
# one, so a pool larger than the client's connections runs no faster than the connections.
MAX_WORKERS = 64


class WorkPool(Protocol):
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Start `fn` when a worker is free; its result or exception lands on the future.
        Work submitted beyond the workers waits in order, so a worker that finishes starts
        the next at once instead of waiting for the caller."""

    def settled(self) -> int:
        """How many submitted items have settled (finished, failed or been cancelled)."""

    def pending(self) -> int:
        """Submitted items not yet settled: running, or waiting for a worker."""

    def wait_settled(self, seen: int, timeout_s: float | None) -> None:
        """Return once more than `seen` items have settled, or after `timeout_s` (None: no
        limit), or at once when nothing is pending. Read `seen` from `settled()` before
        looking at the futures, so an item settling in between is not waited for."""

    def close(self) -> None:
        """Start nothing more and return at once; running work is abandoned."""


# Makes a pool with this many workers: the thread pool in Lambda, another in the simulator.
PoolFactory = Callable[[int], WorkPool]


def wait_for(pool: WorkPool, future: Future[Any]) -> None:
    """Return once `future` (submitted to `pool`) is done."""
    while True:
        seen = pool.settled()
        if future.done():
            return
        pool.wait_settled(seen, None)


class ThreadWorkPool:
    """`concurrent.futures` threads: boto3 clients are thread-safe, so actions share one."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="baton-work")
        self._changed = threading.Condition(threading.Lock())
        self._submitted = 0
        self._settled = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future = self._executor.submit(fn)
        with self._changed:
            self._submitted += 1
        future.add_done_callback(self._count_settled)
        return future

    def _count_settled(self, _: Future[Any]) -> None:
        with self._changed:
            self._settled += 1
            self._changed.notify_all()

    def settled(self) -> int:
        return self._settled

    def pending(self) -> int:
        return self._submitted - self._settled

    def wait_settled(self, seen: int, timeout_s: float | None) -> None:
        with self._changed:
            if self._settled > seen or self._submitted == self._settled:
                return
            self._changed.wait(timeout_s)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
