"""A tiny Lambda handler for testing the local Lambda service itself, apart from baton.

The event says what to do: {"mode": "echo" | "sleep" | "fail" | "exit", "seconds": s,
"log": path}. With "log", each invocation appends a JSON line when it starts, so a test can see
every delivery, in which process, and when.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record = {
        "request_id": context.aws_request_id,
        "pid": os.getpid(),
        "started_ms": time.time_ns() // 1_000_000,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "function_version": context.function_version,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tag": event.get("tag"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL_LAMBDA"),
    }
    log = event.get("log")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
    mode = event.get("mode", "echo")
    if mode == "sleep":
        time.sleep(float(event.get("seconds", 1)))
    elif mode == "fail":
        raise RuntimeError(f"asked to fail ({event.get('tag')})")
    elif mode == "exit":
        os._exit(3)
    return record
