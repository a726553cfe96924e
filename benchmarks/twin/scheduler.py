"""Virtual time: cooperative threads ordered by when they next wake (a discrete-event loop).

Every Lambda invocation, watchdog sweep or operator is an `Actor` on a thread of its own, but
exactly one thread runs at a time. An actor spends virtual time only by `wait(ms)` (an AWS
call's latency, a page's parsing, a sleep): it parks until the clock reaches its wake time, and
the loop always resumes the actor (or fires the timer) that is due first. So 256 shards that
each wait 50 ms for a page overlap in virtual time exactly as they do on AWS, and an hour of
AWS time costs only the CPU of the code that really runs.

An actor with a deadline (Lambda's timeout) is killed there: a wait that would end past it ends
at the deadline with `Killed` raised in the actor, wherever it is (inside a listing loop, between
two writes), which is what Lambda does to a sandbox at its timeout.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HARNESS_TIMEOUT_S = 300


class Killed(BaseException):
    """Lambda ended the sandbox (the timeout): nothing after this point runs in the actor."""


class HarnessStuck(RuntimeError):
    """An actor did not come back to the loop: a twin bug, never a verdict on baton."""


_local = threading.local()


@dataclass(eq=False)
class Actor:
    loop: Loop
    label: str
    fn: Callable[[Actor], Any]
    deadline: int | None = None
    on_done: Callable[[Actor], None] | None = None
    result: Any = None
    error: BaseException | None = None
    killed: bool = False
    # Set by `Loop.abort`: the actor dies at its next resumption.
    kill_now: bool = False
    done: bool = False
    started_ms: int = 0
    ended_ms: int = 0
    # What the Lambda service knows of it (set by the service).
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sem = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._body, name=self.label, daemon=True)

    def _body(self) -> None:
        _local.actor = self
        self.sem.acquire()
        try:
            if self.kill_now:
                raise Killed(f"{self.label} aborted before it started")
            self.result = self.fn(self)
        except Killed:
            self.killed = True
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True
            self.ended_ms = self.loop.now
            self.loop._back.release()


def current() -> Actor | None:
    return getattr(_local, "actor", None)


class Loop:
    """The virtual clock (milliseconds) and the queue of what is due next."""

    def __init__(self, start_ms: int = 1_800_000_000_000) -> None:
        self.now = start_ms
        self.start_ms = start_ms
        self._seq = itertools.count()
        self._queue: list[tuple[int, int, Actor | Callable[[], None]]] = []
        self._back = threading.Semaphore(0)
        self.running: set[Actor] = set()
        self.finished = 0
        self.switches = 0

    @property
    def elapsed_s(self) -> float:
        return (self.now - self.start_ms) / 1000

    def at(self, when: int, fn: Callable[[], None]) -> None:
        """Run `fn` in the loop's thread at virtual time `when` (at once if it has passed)."""
        heapq.heappush(self._queue, (max(when, self.now), next(self._seq), fn))

    def spawn(
        self,
        label: str,
        fn: Callable[[Actor], Any],
        *,
        deadline: int | None = None,
        on_done: Callable[[Actor], None] | None = None,
    ) -> Actor:
        """Start an actor now (it first runs when the loop reaches it)."""
        actor = Actor(self, label, fn, deadline=deadline, on_done=on_done)
        actor.started_ms = self.now
        actor.thread.start()
        self.running.add(actor)
        heapq.heappush(self._queue, (self.now, next(self._seq), actor))
        return actor

    def wait(self, ms: float) -> None:
        """The running actor spends `ms` of virtual time (a call's latency, CPU work, a sleep).
        Outside an actor (set-up code) time does not pass."""
        actor = current()
        if actor is None or actor.loop is not self:
            return
        wake = self.now + max(0, round(ms))
        kill = actor.deadline is not None and wake >= actor.deadline
        if kill:
            assert actor.deadline is not None
            wake = actor.deadline
        if not kill and (not self._queue or self._queue[0][0] > wake):
            self.now = wake  # nobody is due before: go on without a switch
            return
        heapq.heappush(self._queue, (wake, next(self._seq), actor))
        self._back.release()
        actor.sem.acquire()
        if kill or actor.kill_now:
            raise Killed(f"{actor.label} reached its deadline")

    def sleep(self, seconds: float) -> None:
        self.wait(seconds * 1000)

    def run(self, until: Callable[[], bool] | None = None, max_ms: int | None = None) -> None:
        """Run what is due, in time order, until nothing is left, `until()` holds, or the
        clock passes `max_ms` of virtual time."""
        while self._queue:
            if until is not None and until():
                return
            when, _, item = heapq.heappop(self._queue)
            if max_ms is not None and when - self.start_ms > max_ms:
                heapq.heappush(self._queue, (when, next(self._seq), item))
                return
            self.now = max(self.now, when)
            if isinstance(item, Actor):
                self._resume(item)
            else:
                item()

    def _resume(self, actor: Actor) -> None:
        self.switches += 1
        actor.sem.release()
        if not self._back.acquire(timeout=HARNESS_TIMEOUT_S):
            raise HarnessStuck(f"{actor.label} did not yield within {HARNESS_TIMEOUT_S} s")
        if actor.done:
            self.running.discard(actor)
            self.finished += 1
            if actor.on_done is not None:
                actor.on_done(actor)

    def abort(self) -> None:
        """Kill every actor still parked, so no thread outlives the run."""
        self._queue.clear()
        for actor in list(self.running):
            actor.kill_now = True
            self._resume(actor)
