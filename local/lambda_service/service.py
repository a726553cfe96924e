"""The local Lambda service: async event queue, retries, dead letters, concurrency, faults.

Lambda's behaviour that baton depends on, reproduced with real processes:

- `Event` invokes are accepted (202) into a queue and run later, at least once; the duplicate
  fault delivers some twice. `RequestResponse` invokes run at once and are never retried.
- Each invocation runs in a worker process (warm ones are reused); at the function's timeout
  the process is killed with SIGKILL, as Lambda kills a sandbox.
- A failed async invocation (the handler raised, timed out, or its process died, however
  early) is retried up to `MaximumRetryAttempts` times, Lambda's delays (about 1 and 2 minutes
  after the failure) divided by `retry_scale`. Then it is dead-lettered. The stack scales the
  store's lease term by the same factor, so a retry finds a dead hop's lease expired as on AWS.
- Reserved concurrency caps the workers running at once; while it is 0 every async event goes
  straight to the dead-letter record, without retries, as on AWS.
"""

from __future__ import annotations

import heapq
import json
import threading
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any

from baton.local.lambda_service import errors
from baton.local.lambda_service.config_api import FunctionConfigApi
from baton.local.lambda_service.faults import Dice, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.lambda_service.invocations import DeadLetter, Invocation, Pending
from baton.local.lambda_service.sandbox_pool import InvocationEnd, Result, SandboxDied, SandboxPool
from baton.store.clock import iso_from_ms, wall_ms

# How long a dead worker pool (cannot start a process) delays an event before trying again.
SERVICE_RETRY_MS = 1_000
INVOCATIONS_KEPT = 10_000


class LambdaService:
    def __init__(
        self,
        config: FunctionConfig,
        worker_env: dict[str, str],
        workdir: Path,
        faults: FaultConfig | None = None,
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.log_path = workdir / "lambda.log"
        self.dead_letter_path = workdir / "dead-letters.jsonl"
        self.pool = SandboxPool(config.handler, worker_env, self.log_path)
        self.stats: Counter[str] = Counter()
        self.invocations: deque[Invocation] = deque(maxlen=INVOCATIONS_KEPT)
        self._dead_letters: list[DeadLetter] = []
        self._queue: list[Pending] = []
        self._seq = 0
        self._running = 0
        # Every event taken from the queue and not yet settled (running, starting a worker, or
        # about to be queued again for a retry), by a token of its own: duplicates share a
        # request id and may run at once. `busy_with` looks here and at the queue.
        self._in_flight: dict[int, Any] = {}
        self._flights = 0
        self._cond = threading.Condition()
        self._closing = False
        self._threads: set[threading.Thread] = set()
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="lambda-dispatch", daemon=True
        )
        self.config_api = FunctionConfigApi(config, self._cond)
        self.set_faults(faults or FaultConfig())

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LambdaService:
        self.pool.prewarm()
        self._dispatcher.start()
        return self

    def close(self) -> None:
        """Stop dispatching, kill every worker (running ones too), wait for our threads."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._dispatcher.is_alive():
            self._dispatcher.join()
        self.pool.close()
        with self._cond:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        self.pool.close_log()

    # ------------------------------------------------------------------ faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Change the fault knobs while running; each knob restarts its seeded stream."""
        self.faults = faults
        self._duplicate = Dice(faults.duplicate)
        self._kill = Dice(faults.kill)
        self._throttle = Dice(faults.throttle)

    def throttle_now(self) -> bool:
        """The throttle fault's decision for one Invoke request."""
        hit = self._throttle.roll()
        if hit:
            self.stats["throttled_by_fault"] += 1
        return hit

    # ------------------------------------------------------------------ invoke

    def invoke_async(self, event: Any) -> str:
        """Accept an event (Lambda answers 202 before anything runs); returns the request id."""
        request_id = str(uuid.uuid4())
        now = wall_ms()
        with self._cond:
            if self._closing:
                raise errors.service_error("the local Lambda service is shutting down")
            self.stats["accepted"] += 1
            if self.config.reserved_concurrency == 0:
                self._dead_letter(
                    Pending(now, 0, request_id, event, now),
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "reserved concurrency is 0: the event was not run and is not retried",
                )
                return request_id
            self._push(Pending(now, 0, request_id, event, now))
            if self._duplicate.roll():
                # At-least-once delivery: the same event, same request id, a moment later.
                delay = int(self._duplicate.uniform(0, self.config.timeout_ms))
                self._push(Pending(now + delay, 0, request_id, event, now, duplicate=True))
                self.stats["duplicated"] += 1
            self._cond.notify_all()
        return request_id

    def invoke_sync(self, event: Any) -> Invocation:
        """RequestResponse: run now if a slot is free (else 429), never retried."""
        request_id = str(uuid.uuid4())
        with self._cond:
            if self._closing:
                raise errors.service_error("the local Lambda service is shutting down")
            cap = self.config.concurrency_cap
            if self._running >= cap:
                self.stats["throttled_by_concurrency"] += 1
                reason = (
                    "ReservedFunctionConcurrentInvocationLimitExceeded"
                    if self.config.reserved_concurrency is not None
                    else "ConcurrentInvocationLimitExceeded"
                )
                raise errors.throttled(reason)
            self._running += 1
            token = self._take_off(event)
        try:
            invocation = self._execute(Pending(wall_ms(), 0, request_id, event, wall_ms()), "sync")
        except SandboxDied as exc:
            raise errors.service_error(f"could not start a worker: {exc}") from None
        finally:
            self._release_slot()
            self._land(token)
        return invocation

    # ------------------------------------------------------------------ introspection

    def dead_letters(self) -> list[DeadLetter]:
        with self._cond:
            return list(self._dead_letters)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def running(self) -> int:
        with self._cond:
            return self._running

    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        with self._cond:
            return self._idle_locked()

    def _idle_locked(self) -> bool:
        return not self._queue and self._running == 0

    def wait_until_idle(self, timeout_s: float) -> None:
        """Block until nothing is queued or running, so every invocation so far is recorded.

        A job's last hop writes its end before its invocation returns: a reader who saw the end
        and wants the service's record of that hop waits here first.
        Raises TimeoutError if the service is still busy after `timeout_s`.
        """
        with self._cond:
            if not self._cond.wait_for(self._idle_locked, timeout=timeout_s):
                raise TimeoutError(
                    f"the local Lambda service still has {len(self._queue)} queued and "
                    f"{self._running} running after {timeout_s} s"
                )

    def busy_with(self, job_id: str) -> bool:
        """Whether an event for `job_id` waits in the queue (a retry included) or runs now."""
        with self._cond:
            events = [p.event for p in self._queue] + list(self._in_flight.values())
        return any(isinstance(e, dict) and e.get("job_id") == job_id for e in events)

    def worker_pids(self) -> list[int]:
        return self.pool.pids()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            queued, running = len(self._queue), self._running
            dead = len(self._dead_letters)
        return {
            **dict(self.stats),
            "queued": queued,
            "running": running,
            "dead_letters": dead,
            # Invocations the kill fault chose; a kill strikes ("killed") only if the
            # invocation is still running at the moment drawn for it.
            "kills_planned": self._kill.hits,
            "cold_starts": self.pool.cold_starts,
            "workers": len(self.pool.pids()),
        }

    # ------------------------------------------------------------------ internals

    def _push(self, pending: Pending) -> None:
        self._seq += 1
        pending.seq = self._seq
        heapq.heappush(self._queue, pending)

    def _take_off(self, event: Any) -> int:
        """Hold `event` as in flight until `_land`; call with self._cond held."""
        self._flights += 1
        self._in_flight[self._flights] = event
        return self._flights

    def _land(self, token: int) -> None:
        with self._cond:
            self._in_flight.pop(token, None)

    def _release_slot(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def _dead_letter(self, pending: Pending, reason: str, error: str | None) -> None:
        """Record an event Lambda gave up on. Call with self._cond held."""
        letter = DeadLetter(
            request_id=pending.request_id,
            event=pending.event,
            reason=reason,
            attempts=pending.attempt,
            last_error=error,
            at=iso_from_ms(wall_ms()),
            function_arn=self.config.arn,
        )
        self._dead_letters.append(letter)
        self.stats["dead_lettered"] += 1
        with open(self.dead_letter_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(letter.to_dict()) + "\n")
        self._log(f"DEAD-LETTER RequestId: {pending.request_id} {reason}: {error}")

    def _log(self, line: str) -> None:
        self.pool.log.write(f"[local-lambda] {line}\n")
        self.pool.log.flush()

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                pending = self._next_ready()
                if pending is None:
                    return
                self._running += 1
                token = self._take_off(pending.event)
                thread = threading.Thread(
                    target=self._run_async, args=(pending, token), name="invocation", daemon=True
                )
                self._threads.add(thread)
            thread.start()

    def _next_ready(self) -> Pending | None:
        """Wait (holding self._cond) for an event that may run now and a free slot."""
        while not self._closing:
            now = wall_ms()
            if not self._queue or self._queue[0].not_before_ms > now:
                wait_s = (self._queue[0].not_before_ms - now) / 1000 if self._queue else None
                self._cond.wait(wait_s)
                continue
            cap = self.config.concurrency_cap
            head = self._queue[0]
            if cap == 0:
                heapq.heappop(self._queue)
                self._dead_letter(
                    head,
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "reserved concurrency is 0: the event was not run and is not retried",
                )
                continue
            if now - head.received_ms > self.config.max_event_age_s * 1000:
                heapq.heappop(self._queue)
                self._dead_letter(head, "EventAgeExceeded", head.last_error)
                continue
            if self._running >= cap:
                # Throttled by concurrency: the event stays queued, as Lambda keeps retrying
                # throttled async events (for up to 6 hours) without counting an attempt.
                self._cond.wait(0.5)
                continue
            return heapq.heappop(self._queue)
        return None

    def _run_async(self, pending: Pending, token: int) -> None:
        """One delivery; the event stays in flight until it is settled (a retry queued first)."""
        try:
            try:
                invocation = self._execute(pending, "async")
            except SandboxDied as exc:
                with self._cond:
                    if not self._closing:
                        self._log(f"cannot start a worker ({exc}); event delayed")
                        pending.not_before_ms = wall_ms() + SERVICE_RETRY_MS
                        self._push(pending)
                return
            finally:
                self._release_slot()
            if invocation.ending == InvocationEnd.OK.value:
                return
            with self._cond:
                if self._closing:
                    return
                pending.last_error = invocation.error_line()
                if pending.attempt < self.config.max_retry_attempts:
                    retry = pending.attempt + 1
                    not_before = wall_ms() + self.config.retry_delay_ms(retry)
                    self.stats["retries"] += 1
                    self._log(
                        f"RETRY RequestId: {pending.request_id} attempt {retry + 1} "
                        f"in {max(0, not_before - wall_ms())} ms after {invocation.ending}"
                    )
                    self._push(
                        Pending(
                            not_before,
                            0,
                            pending.request_id,
                            pending.event,
                            pending.received_ms,
                            attempt=retry,
                            duplicate=pending.duplicate,
                            last_error=pending.last_error,
                        )
                    )
                    self._cond.notify_all()
                else:
                    pending.attempt += 1
                    self._dead_letter(pending, "RetriesExhausted", pending.last_error)
        finally:
            self._land(token)
            with self._cond:
                self._threads.discard(threading.current_thread())

    def _execute(self, pending: Pending, kind: str) -> Invocation:
        """Run the handler once in a worker."""
        worker = self.pool.checkout()
        timeout_ms = self.config.timeout_ms
        started = wall_ms()
        deadline = started + timeout_ms
        killed = self._kill.roll()
        stop_at = started + int(self._kill.uniform(0, timeout_ms)) if killed else deadline
        context = {
            "function_name": self.config.name,
            "function_version": "$LATEST",
            "invoked_function_arn": self.config.arn,
            "memory_limit_in_mb": self.config.memory_mb,
            "aws_request_id": pending.request_id,
            "log_group_name": f"/aws/lambda/{self.config.name}",
            "log_stream_name": f"local/[$LATEST]{worker.pid}",
            "deadline_ms": deadline,
        }
        result: Result = worker.invoke(pending.event, context, timeout_ms, stop_at, killed)
        if worker.alive:
            self.pool.checkin(worker, keep_idle=max(1, self.config.concurrency_cap))
        else:
            self.pool.discard(worker)
        self.stats["invocations"] += 1
        self.stats[result.ending.value] += 1
        if result.ending is not InvocationEnd.OK:
            self._log(
                f"RequestId: {pending.request_id} ended {result.ending.value} after "
                f"{result.duration_ms} ms: {result.payload[:500]}"
            )
        invocation = Invocation(
            request_id=pending.request_id,
            invocation_type=kind,
            event=pending.event,
            attempt=pending.attempt,
            duplicate=pending.duplicate,
            ending=result.ending.value,
            payload=result.payload,
            duration_ms=result.duration_ms,
            pid=result.pid,
            started_at_ms=started,
        )
        self.invocations.append(invocation)
        return invocation
