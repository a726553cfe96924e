"""The benchmark's moto server: the local stack's serialised moto app, plus two things the figures
need and the stack's server does not have.

- `/_bench/counters` (GET) and `/_bench/reset` (POST): every request counted at the server, by
  service and operation, with request bytes and, for DynamoDB writes, the written item's size. So
  writes are counted wherever they come from (this process, or the local Lambda's workers), and
  nothing in baton is patched.
- `/_bench/fill` (POST `?bucket=&prefix=&count=&size=`): put `count` objects straight into moto's
  S3 backend, about a hundred times faster than `PutObject` over HTTP, so a 100,000-object bucket
  takes seconds to make. Walks then list those objects over HTTP like any other.
- `/_bench/latency` (POST `?low_ms=&high_ms=`): every S3 request waits a uniform random time in
  that range before moto serves it, on its own server thread and outside the lock that
  serialises moto, as a request to real S3 spends 20-50 ms on the network and in S3's front
  end. `low_ms=0&high_ms=0` turns it off. Waiting requests overlap, so a client that sends
  requests concurrently gains what it would gain on S3; moto's own work stays one request at a
  time, and `service_s` (seconds inside moto, per operation) names that limit.

Run as `python -m benchmarks.server --parent PID`; prints `{"port": N, "pid": P}` when ready.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from baton.local.aws_server.moto_server import MotoServer
from baton.local.aws_server.moto_server import serve as serve_moto
from baton.store.model import STATUS_INDEX_ATTRIBUTES

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ACCOUNT = "123456789012"
READY_TIMEOUT_S = 30.0
DYNAMO_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
# The by-status index's entry: the table's key, the index's keys, the projected attributes.
INDEX_ATTRIBUTES = ("job_id", "status", "updated_at", *STATUS_INDEX_ATTRIBUTES)


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (the rules behind write units), approximately."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = str(raw).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in raw)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in raw)
    return len(json.dumps(raw))


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def index_entry_size(item: dict[str, Any]) -> int:
    """The by-status index entry's size: what DynamoDB writes to the index for this item."""
    return item_size({k: v for k, v in item.items() if k in INDEX_ATTRIBUTES})


def units(size: int) -> int:
    """Write request units of one write of `size` bytes: 1 per started KB."""
    return -(-size // 1024)


def s3_operation(method: str, path: str, query: str) -> str:
    parts = [p for p in path.split("/") if p]
    args = parse_qs(query, keep_blank_values=True)
    if len(parts) <= 1:
        if method == "GET":
            return "ListObjectsV2" if "list-type" in args else "ListObjects"
        return f"{method.title()}Bucket"
    if "tagging" in args:
        return f"{method.title()}ObjectTagging"
    return {
        "GET": "GetObject",
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
        "HEAD": "HeadObject",
    }.get(method, f"{method.title()}Object")


class CountingApp:
    """WSGI middleware: counts requests by operation and serves the /_bench/ routes."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.item_bytes: Counter[str] = Counter()
        self.write_units: Counter[str] = Counter()
        self.index_units: Counter[str] = Counter()  # by-status index writes, in units
        self.item_max: Counter[str] = Counter()  # largest item written
        self.service_s: defaultdict[str, float] = defaultdict(float)  # seconds inside moto
        # CPU seconds of the serving thread inside moto (what the lock holds it for, less waits)
        self.service_cpu_s: defaultdict[str, float] = defaultdict(float)
        # this process's CPU seconds (every thread: HTTP parsing, moto, this layer) at reset
        self.cpu_at_reset = time.process_time()
        self.wall_at_reset = time.perf_counter()
        self.latency_ms = (0.0, 0.0)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self._bench(path, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        body = b""
        if target and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = _Replay(body)
        status: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc) if exc else start_response(code, headers)

        low, high = self.latency_ms
        if high > 0 and not target:  # an S3 request: the network and S3's front end
            time.sleep(random.uniform(low, high) / 1000)
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = self.app(environ, capture)
        chunks = list(result)
        inside = time.perf_counter() - started
        inside_cpu = time.thread_time() - started_cpu
        if target:
            op = "dynamodb." + target.rpartition(".")[2]
        else:
            op = "s3." + s3_operation(
                environ.get("REQUEST_METHOD", "GET"), path, environ.get("QUERY_STRING", "")
            )
        ok = bool(status) and status[0].startswith("2")
        if not ok:
            op += ".failed"
        size = index = 0
        if ok and target.rpartition(".")[2] in DYNAMO_WRITES:
            size, index = self._written_sizes(target, body, b"".join(chunks))
        with self.lock:
            self.calls[op] += 1
            self.bytes_in[op] += length
            self.service_s[op] += inside
            self.service_cpu_s[op] += inside_cpu
            if size:
                self.item_bytes[op] += size
                self.write_units[op] += units(size)
                self.item_max[op] = max(self.item_max[op], size)
            if index:
                # every write sets `updated_at`, the index's sort key: DynamoDB deletes the old
                # entry and puts the new one (2 writes), except when the item is new (1)
                self.index_units[op] += units(index) * (1 if op.endswith("PutItem") else 2)
        return chunks

    @staticmethod
    def _written_sizes(target: str, request: bytes, response: bytes) -> tuple[int, int]:
        """The item's size after the write (UpdateItem's ALL_NEW answer, or PutItem's item)
        and its by-status index entry's; (1, 0) when the answer does not carry the item."""
        try:
            if target.endswith("PutItem"):
                item = json.loads(request)["Item"]
            else:
                item = json.loads(response).get("Attributes")
            if not item:
                return 1, 0
            return item_size(item), index_entry_size(item)
        except (ValueError, KeyError, TypeError):
            return 1, 0

    def _bench(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        if path == "/_bench/counters":
            with self.lock:
                answer: dict[str, Any] = {
                    "calls": dict(self.calls),
                    "bytes_in": dict(self.bytes_in),
                    "item_bytes": dict(self.item_bytes),
                    "write_units": dict(self.write_units),
                    "index_units": dict(self.index_units),
                    "item_max": dict(self.item_max),
                    "service_s": dict(self.service_s),
                    "service_cpu_s": dict(self.service_cpu_s),
                    "process_cpu_s": time.process_time() - self.cpu_at_reset,
                    "wall_s": time.perf_counter() - self.wall_at_reset,
                    "latency_ms": list(self.latency_ms),
                }
        elif path == "/_bench/reset":
            with self.lock:
                for counter in (
                    self.calls,
                    self.bytes_in,
                    self.item_bytes,
                    self.write_units,
                    self.index_units,
                    self.item_max,
                    self.service_s,
                    self.service_cpu_s,
                ):
                    counter.clear()
                self.cpu_at_reset = time.process_time()
                self.wall_at_reset = time.perf_counter()
            answer = {"ok": True}
        elif path == "/_bench/latency":
            ms = {k: float(v[0]) for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            self.latency_ms = (ms.get("low_ms", 0.0), ms.get("high_ms", 0.0))
            answer = {"latency_ms": list(self.latency_ms)}
        elif path == "/_bench/fill":
            args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            answer = {"filled": fill(**args)}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "no such route"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


class _Replay:
    """A consumed request body, readable again by the wrapped app."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size is None or size < 0 else self.pos + size
        chunk = self.body[self.pos : end]
        self.pos += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        end = self.body.find(b"\n", self.pos)
        end = len(self.body) if end < 0 else end + 1
        return self.read(end - self.pos)


def fill(bucket: str, count: str, prefix: str = "", size: str = "0") -> int:
    """`count` objects `<prefix>k0000000...` straight into the backend; sizes vary up to `size`."""
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT]["global"]
    top = max(1, int(size))
    for i in range(int(count)):
        body = b"x" * ((i * 37) % top) if int(size) else b""
        backend.put_object(bucket, f"{prefix}k{i:07d}", body, disable_notification=True)
    # The stand-in for S3 keeps the objects it holds out of its collector's full passes, as a
    # worker keeps its init heap: S3's speed does not depend on how many objects this process
    # holds. (Measured beside it: the spread of two plain loops back to back did not change,
    # 3.2% and 3.3% over 16 pairs; the drift between walks is the machine's.)
    gc.collect()
    gc.freeze()
    return int(count)


def serve(parent_pid: int) -> None:
    """moto's server as the local stack runs it, with every request counted, and connections
    kept open between requests as S3 keeps them (werkzeug's handler closes each one)."""
    serve_moto(parent_pid, wrap=CountingApp, switch_interval_s=None, keep_alive=True)


class BenchServer(MotoServer):
    """The parent's handle: the local stack's moto server process, plus counters and fill."""

    child_module = "benchmarks.server"

    def _call(self, route: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            self.url + route, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.loads(answer.read())

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("/_bench/counters")
        return result

    def latency(self, low_ms: float, high_ms: float) -> None:
        """Every S3 request from now on waits low_ms..high_ms in the server (0, 0: none)."""
        self._call(f"/_bench/latency?low_ms={low_ms}&high_ms={high_ms}", "POST")

    def reset(self) -> None:
        self._call("/_bench/reset", "POST")

    def fill(self, bucket: str, count: int, prefix: str = "", size: int = 300) -> None:
        self._call(
            f"/_bench/fill?bucket={bucket}&count={count}&prefix={prefix}&size={size}", "POST"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parent", type=int, required=True)
    serve(parser.parse_args().parent)


if __name__ == "__main__":
    main()
