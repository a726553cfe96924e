"""One local Lambda sandbox: a process that imports the handler once and runs invocations.

Run as `python -m baton.local.lambda_service.sandbox --fd N --parent PID --handler
baton.handler.app.lambda_handler`. It
talks to the Lambda service over the socket `N` (one JSON line per request and per answer);
its stdout and stderr are the function's log, as CloudWatch Logs receives them on AWS. The
service kills the process with SIGKILL at the invocation's deadline, as Lambda kills a sandbox.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baton.local.processes import become_child
from baton.store.clock import wall_ms


@dataclass
class LocalContext:
    """The attributes of Lambda's Python context object that handlers (and Powertools) read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - wall_ms())


def load_handler(path: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = path.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    if not callable(function):
        raise TypeError(f"{path} is not callable")
    return function  # type: ignore[no-any-return]


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The error object Lambda's Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def serve(sock: socket.socket, handler_path: str) -> None:
    started = time.monotonic()
    handler = load_handler(handler_path)
    init_ms = (time.monotonic() - started) * 1000
    rfile = sock.makefile("rb")
    wfile = sock.makefile("wb")

    def answer(message: dict[str, Any]) -> None:
        wfile.write(json.dumps(message).encode() + b"\n")
        wfile.flush()

    answer({"ready": True, "pid": os.getpid(), "init_ms": round(init_ms, 1)})
    for line in rfile:
        request = json.loads(line)
        context = LocalContext(**request["context"])
        rid = context.aws_request_id
        print(f"START RequestId: {rid} Version: {context.function_version}", flush=True)
        began = time.monotonic()
        try:
            result = handler(request["event"], context)
            body = json.dumps(result).encode()
            message: dict[str, Any] = {"ok": True, "payload": body.decode()}
        except Exception as exc:
            payload = error_payload(exc)
            payload["requestId"] = rid
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", flush=True)
            message = {"ok": False, "payload": json.dumps(payload)}
        duration = (time.monotonic() - began) * 1000
        print(f"END RequestId: {rid}", flush=True)
        print(
            f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\t"
            f"Memory Size: {context.memory_limit_in_mb} MB",
            flush=True,
        )
        answer(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--handler", default="baton.handler.app.lambda_handler")
    args = parser.parse_args()
    become_child(args.parent)
    sock = socket.socket(fileno=args.fd)
    try:
        serve(sock, args.handler)
    except Exception:
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
