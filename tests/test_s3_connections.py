"""The worker's S3 client keeps a connection for every thread that may use it at once.

A hop's pool (up to MAX_CONCURRENCY workers) and the listing's page-ahead worker share one S3
client. botocore keeps 10 connections by default and does not block past them: a request that
finds none free opens a new connection and drops it afterwards, so above 10 threads every
round of requests pays new connections (on AWS, a TCP and TLS handshake each). Here every
thread's request is held at a barrier until all are in flight, round after round, and the
server counts the connections it accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from baton.handler.runtime import Runtime
from baton.handler.tasks.builtin.s3_walk import MAX_CONCURRENCY

THREADS = MAX_CONCURRENCY + 1  # the pool's workers and the lister's page-ahead worker
ROUNDS = 3


class HeldServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HeldHandler)
        self.connections = 0
        self.count_lock = threading.Lock()
        self.barrier = threading.Barrier(THREADS, timeout=20)

    def process_request(self, request: object, client_address: object) -> None:
        with self.count_lock:
            self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


class HeldHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3
    server: HeldServer

    def do_HEAD(self) -> None:
        self.server.barrier.wait()  # every thread's request in flight at once
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"d41d8cd98f00b204e9800998ecf8427e"')
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HeldServer]:
    held = HeldServer()
    thread = threading.Thread(target=held.serve_forever, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        held.shutdown()
        held.server_close()


def test_the_workers_s3_client_reuses_one_connection_per_concurrent_thread(
    server: HeldServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_port}")
    s3 = Runtime.from_env().s3

    with ThreadPoolExecutor(THREADS) as threads:
        for round_ in range(ROUNDS):
            keys = [f"r{round_}-k{i}" for i in range(THREADS)]
            list(threads.map(lambda key: s3.head_object(Bucket="bucket-a", Key=key), keys))

    # one connection per thread, kept and reused; botocore's default of 10 would have opened
    # THREADS + (ROUNDS - 1) * (THREADS - 10) of them
    assert server.connections == THREADS
