"""The pool of sandbox processes: the local Lambda's sandboxes, reused while warm, killed at the
deadline (each process runs `baton.local.lambda_service.sandbox`)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from baton.store.clock import wall_ms

INIT_TIMEOUT_S = 30.0


class InvocationEnd(StrEnum):
    """How an invocation ended, from the service's point of view."""

    OK = "ok"  # the handler returned
    ERROR = "error"  # the handler raised: Lambda's "Unhandled" function error
    TIMEOUT = "timeout"  # the deadline passed: the sandbox was killed
    KILLED = "killed"  # the kill fault struck before the deadline
    CRASHED = "crashed"  # the process died on its own (Runtime.ExitError)


@dataclass(frozen=True)
class Result:
    ending: InvocationEnd
    payload: str  # the handler's JSON result, or Lambda's JSON error object
    duration_ms: int
    pid: int

    @property
    def failed(self) -> bool:
        return self.ending is not InvocationEnd.OK


class SandboxDied(Exception):
    """A sandbox process could not start, or is gone (or the pool is closing)."""


class SandboxProcess:
    """One sandbox process and the socket the service talks to it over."""

    def __init__(self, handler: str, env: dict[str, str], log: IO[str]) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "baton.local.lambda_service.sandbox",
                "--fd",
                str(theirs.fileno()),
                "--parent",
                str(os.getpid()),
                "--handler",
                handler,
            ],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        theirs.close()
        self._buffer = b""
        self.invocations = 0
        self.init_ms = 0.0
        try:
            ready = self._read_message(time.monotonic() + INIT_TIMEOUT_S)
        except SandboxDied:
            self.kill()
            raise
        if ready is None or not ready.get("ready"):
            self.kill()
            raise SandboxDied(f"worker did not become ready within {INIT_TIMEOUT_S:.0f} s")
        self.init_ms = float(ready.get("init_ms", 0.0))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def invoke(
        self, event: Any, context: dict[str, Any], timeout_ms: int, stop_at_ms: int, killed: bool
    ) -> Result:
        """Run one invocation; at `stop_at_ms` (wall clock) the process is killed.

        `killed` says whether stop_at_ms is the kill fault's moment rather than the deadline.
        """
        began = wall_ms()
        self.invocations += 1
        try:
            self.sock.sendall(json.dumps({"event": event, "context": context}).encode() + b"\n")
            remaining_s = max(0.0, (stop_at_ms - wall_ms()) / 1000)
            answer = self._read_message(time.monotonic() + remaining_s)
        except (SandboxDied, OSError):
            self.kill()
            error = _runtime_error("Runtime.ExitError", "the worker process exited")
            return Result(InvocationEnd.CRASHED, error, wall_ms() - began, self.pid)
        if answer is None:
            self.kill()
            if killed:
                error = _runtime_error(
                    "Runtime.ExitError", "the sandbox was killed by the local kill fault"
                )
                return Result(InvocationEnd.KILLED, error, wall_ms() - began, self.pid)
            error = _runtime_error(
                "Sandbox.Timedout", f"Task timed out after {timeout_ms / 1000:.2f} seconds"
            )
            return Result(InvocationEnd.TIMEOUT, error, wall_ms() - began, self.pid)
        ending = InvocationEnd.OK if answer.get("ok") else InvocationEnd.ERROR
        return Result(ending, str(answer.get("payload", "null")), wall_ms() - began, self.pid)

    def kill(self) -> None:
        """SIGKILL, reap, close: as Lambda ends a sandbox, with no chance to clean up."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.sock.close()

    def _read_message(self, until_monotonic: float) -> dict[str, Any] | None:
        """One JSON line, or None when the time is up; SandboxDied when the process is gone."""
        while b"\n" not in self._buffer:
            left = until_monotonic - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if not readable:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SandboxDied("worker closed its socket")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message


class SandboxPool:
    """The function's sandbox processes: warm ones are reused (last in, first out); a dead or
    killed one is replaced."""

    def __init__(self, handler: str, env: dict[str, str], log_path: Path) -> None:
        self.handler = handler
        self.env = env
        self.log: IO[str] = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - see close()
        self._idle: list[SandboxProcess] = []
        self._all: set[SandboxProcess] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._spawners: list[threading.Thread] = []
        self.cold_starts = 0
        self.kills = 0

    def checkout(self) -> SandboxProcess:
        with self._lock:
            if self._closed:
                raise SandboxDied("the Lambda service is shutting down")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                self._forget(worker)
        return self._spawn()

    def checkin(self, worker: SandboxProcess, keep_idle: int) -> None:
        with self._lock:
            if worker.alive and not self._closed and len(self._idle) < keep_idle:
                self._idle.append(worker)
                return
        self.discard(worker)

    def discard(self, worker: SandboxProcess) -> None:
        worker.kill()
        with self._lock:
            self._forget(worker)

    def prewarm(self) -> None:
        """Start one worker in the background, so the first invocation finds it warm."""

        def spawn() -> None:
            try:
                worker = self._spawn()
            except SandboxDied:
                return
            self.checkin(worker, keep_idle=1_000)

        thread = threading.Thread(target=spawn, name="prewarm", daemon=True)
        self._spawners.append(thread)
        thread.start()

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.pid for w in self._all)

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for thread in self._spawners:
            thread.join(INIT_TIMEOUT_S)
        with self._lock:
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.kill()

    def close_log(self) -> None:
        self.log.close()

    def _spawn(self) -> SandboxProcess:
        worker = SandboxProcess(self.handler, self.env, self.log)
        with self._lock:
            self.cold_starts += 1
            self._all.add(worker)
            if self._closed:
                self._all.discard(worker)
                closed = True
            else:
                closed = False
        if closed:
            worker.kill()
            raise SandboxDied("the Lambda service is shutting down")
        return worker

    def _forget(self, worker: SandboxProcess) -> None:
        self._all.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)


def _runtime_error(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message})
