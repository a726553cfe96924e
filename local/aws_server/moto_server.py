"""moto's server for DynamoDB and S3, in a child process, with its requests serialised.

Why serialise: moto's threaded server handles requests concurrently, and moto applies a
conditional write as "evaluate the condition, then apply the update" in plain Python with no
lock (`moto/dynamodb/models/__init__.py`, `update_item`/`put_item`). Two worker processes racing
conditional writes on one job item could then both succeed, which DynamoDB never allows and
which would break the hand-off protocol's safety in our own tests. `SerialisedApp` holds one
lock around each whole request (the response body included), so every request is atomic, as
each single-item write is on DynamoDB. Requests still arrive on many threads (one per
connection), so clients never block each other for longer than one request. werkzeug closes
every connection after its answer; `serve(keep_alive=True)` keeps them open
(`baton.local.aws_server.keep_alive`).

Run as `python -m baton.local.aws_server.moto_server --parent PID`; it binds 127.0.0.1 on a free
port and prints `{"port": N}` as its first line of output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from baton.local.processes import become_child, pythonpath

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
READY_TIMEOUT_S = 30.0
SWITCH_INTERVAL_S = 0.000_1


def dispatcher() -> WsgiApp:
    """moto's dispatcher (which of its apps serves a request), each host's answer kept.

    moto 5 finds the backend for a host by listing its own package directory and `stat`-ing
    every entry (about 175) on each call, twice per request: a third of the server's time per
    S3 request, spent under the lock that serialises it. The answer depends only on the host
    and on the installed moto, so the first one is kept. (moto is imported here, in the child:
    the parent's handle never loads it.)
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class KeptDispatcher(DomainDispatcherApplication):
        def __init__(self, create_app: Any) -> None:
            super().__init__(create_app)
            self.backend_by_host: dict[str, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host is not None and host in self.backend_by_host:
                return self.backend_by_host[host]
            backend = super().get_backend_for_host(host)
            if host is not None and backend is not None:
                self.backend_by_host[host] = backend
            return backend

    return KeptDispatcher(create_backend_app)


class SerialisedApp:
    """WSGI middleware: one request at a time through the wrapped app."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            self.requests += 1
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


def serve(
    parent_pid: int,
    wrap: Callable[[WsgiApp], WsgiApp] | None = None,
    switch_interval_s: float | None = SWITCH_INTERVAL_S,
    keep_alive: bool = False,
) -> None:
    """Run moto's app, one request at a time, in this child process until the parent goes.

    `wrap` adds a layer around the serialised app (the benchmarks count requests with it).
    `keep_alive` keeps each client's connection open between requests, as S3 does
    (`baton.local.aws_server.keep_alive`); werkzeug's own handler closes it after every answer.
    """
    become_child(parent_pid)
    if switch_interval_s is not None:
        # Switch threads every 0.1 ms instead of every 5 ms: a request that escaped the lock
        # would interleave with others at once, so a race shows up in our tests, not hides.
        sys.setswitchinterval(switch_interval_s)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    from baton.local.aws_server import fast_answers

    fast_answers.install()
    from werkzeug.serving import make_server

    app: WsgiApp = SerialisedApp(dispatcher())
    if wrap is not None:
        app = wrap(app)
    handler: type[Any] = MotoRequestHandler
    if keep_alive:
        from baton.local.aws_server.keep_alive import KeepAliveHandler

        handler = KeepAliveHandler
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)

    def stdin_closed() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed our stdin, or died
        os._exit(0)

    threading.Thread(target=stdin_closed, name="stdin-watch", daemon=True).start()
    sys.stdout.write(json.dumps({"port": server.server_port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    server.serve_forever()


class MotoServer:
    """The parent's handle on the moto child process."""

    # The module whose `main()` runs the child (a subclass may serve a wrapped app).
    child_module = "baton.local.aws_server.moto_server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self._log: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> MotoServer:
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.child_module, "--parent", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONPATH": pythonpath()},
        )
        assert self.proc.stdout is not None
        line = _readline_within(self.proc.stdout, READY_TIMEOUT_S)
        if not line:
            self.stop()
            raise RuntimeError(f"moto server did not start; see {self.log_path}")
        self.port = int(json.loads(line)["port"])
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def _readline_within(stream: IO[str], timeout_s: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    serve(args.parent)


if __name__ == "__main__":
    main()
