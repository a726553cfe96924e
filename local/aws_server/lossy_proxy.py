"""A loopback HTTP proxy that loses the answers of some DynamoDB writes after they landed.

Workers point `AWS_ENDPOINT_URL_DYNAMODB` at it. Every request is forwarded to the moto server
and its answer read; for a write (`UpdateItem`, `PutItem`, `DeleteItem`, `TransactWriteItems`),
with probability `drop_rate`, the proxy then closes the client's connection without answering,
as a reset connection or a dead load balancer would. The write has landed; botocore sees a
dropped connection and sends it again, and the store must recognise its own write.

Bounded on purpose: it binds 127.0.0.1 only, drops at most `max_drops` answers, and stops by itself
after `lifetime_s` (and on `stop()`).
"""

from __future__ import annotations

import http.client
import random
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

WRITES = frozenset({"UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems"})
# Hop-by-hop headers are not forwarded (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})


@dataclass
class ProxyStats:
    forwarded: int = 0
    writes: int = 0
    dropped: int = 0


class LossyProxy:
    """Forward to `upstream`; lose the answer of a share of the writes. Use as a context manager."""

    def __init__(
        self,
        upstream: str,
        *,
        drop_rate: float,
        seed: int = 0,
        max_drops: int = 1_000,
        lifetime_s: float = 600.0,
    ) -> None:
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        target = urlsplit(upstream)
        if target.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the proxy forwards to a loopback server only, not {upstream!r}")
        self.upstream_host = target.hostname
        self.upstream_port = target.port or 80
        self.drop_rate = drop_rate
        self.max_drops = max_drops
        self.lifetime_s = lifetime_s
        self.stats = ProxyStats()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LossyProxy:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="lossy-proxy", daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._timer is not None:
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> LossyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_this(self, operation: str) -> bool:
        with self._lock:
            self.stats.forwarded += 1
            if operation not in WRITES:
                return False
            self.stats.writes += 1
            if self.stats.dropped >= self.max_drops or self._random.random() >= self.drop_rate:
                return False
            self.stats.dropped += 1
            return True

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


def _handler(proxy: LossyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
            status, answer_headers, answer = proxy.forward(self.command, self.path, headers, body)
            if proxy.drop_this(operation):
                self.close_connection = True  # landed upstream; the caller never hears of it
                return
            self.send_response(status)
            for name, value in answer_headers:
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_POST(self) -> None:  # DynamoDB speaks POST only
            self._relay()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
