"""A pool of threads a hop runs I/O-bound work on, behind a three-call interface.

The interface exists so that the same walk code runs on real threads in Lambda and, in the
protocol simulator, on a deterministic pool that runs submitted work inline in a chosen order
(threads do not fit a cooperative scheduler). A pool serves one hop and is closed at its end;
work still running then is abandoned, never waited for: whatever it would have produced is not
committed, and the next hop does it again (at-least-once).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# The most workers one hop's pool may have (s3-walk's `concurrency` is capped at it). The S3
# client is sized from it: a worker that finds no free connection in botocore's pool waits for
# one, so a pool larger than the client's connections runs no faster than the connections.
MAX_WORKERS = 64


class WorkPool(Protocol):
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Start `fn` when a worker is free; its result or exception lands on the future."""

    def wait_any(self, futures: Collection[Future[Any]], timeout_s: float | None) -> None:
        """Return once one of `futures` is done, or after `timeout_s` (None: no limit)."""

    def close(self) -> None:
        """Start nothing more and return at once; running work is abandoned."""


# Makes a pool with this many workers: the thread pool in Lambda, another in the simulator.
PoolFactory = Callable[[int], WorkPool]


class ThreadWorkPool:
    """`concurrent.futures` threads: boto3 clients are thread-safe, so actions share one."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="baton-work")

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._executor.submit(fn)

    def wait_any(self, futures: Collection[Future[Any]], timeout_s: float | None) -> None:
        wait(futures, timeout=timeout_s, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
