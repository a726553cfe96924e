"""moto's server with keep-alive: many requests on one connection, each answered in full.

The handler must read a request's body to its end even when the app does not (else the body's
bytes would be parsed as the next request line), frame every answer with its length, send no
body for HEAD, and close a connection whose request body was chunked.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from baton.local.aws_server.keep_alive import WRITE_BUFFER, KeepAliveHandler


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Echoes method and path; reads the body only when asked to (`?read`)."""
    body = b""
    if "read" in environ.get("QUERY_STRING", ""):
        body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the app failed")
    if environ["PATH_INFO"] in ("/204", "/304"):
        status = "204 No Content" if environ["PATH_INFO"] == "/204" else "304 Not Modified"
        start_response(status, [("Content-Length", "5"), ("ETag", '"e"')])
        return [b"stray"]  # a body these answers must not carry
    if environ["PATH_INFO"] == "/large":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [LARGE[i : i + 4096] for i in range(0, len(LARGE), 4096)]
    if environ["PATH_INFO"] == "/fails-mid-answer":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return fails_mid_answer()
    answer = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} read={len(body)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "999")])
    return [answer]


# An answer many times the handler's write buffer (a 1,000-key page is ~300 KB).
LARGE = bytes(range(256)) * (5 * WRITE_BUFFER // 256 + 7)


def fails_mid_answer() -> Iterator[bytes]:
    yield b"x" * (2 * WRITE_BUFFER)
    raise RuntimeError("failed mid-answer")


@pytest.fixture
def port() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAliveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def _ask(conn: http.client.HTTPConnection, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
    conn.request(method, path, **kw)
    reply = conn.getresponse()
    return reply.status, reply.read()


def test_one_connection_serves_requests_whose_bodies_the_app_never_read(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert _ask(conn, "PUT", "/a", body=b"x" * 5000) == (200, b"PUT /a read=0")
    assert _ask(conn, "PUT", "/b?read", body=b"y" * 70) == (200, b"PUT /b read=70")
    assert _ask(conn, "GET", "/c") == (200, b"GET /c read=0")
    sock = conn.sock
    assert _ask(conn, "DELETE", "/d", body=b"z") == (200, b"DELETE /d read=0")
    assert conn.sock is sock  # the same connection all along
    conn.close()


def test_head_keeps_the_apps_length_and_sends_no_body(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("HEAD", "/h")
    reply = conn.getresponse()
    assert reply.status == 200 and reply.getheader("Content-Length") == "999"
    assert reply.read() == b""
    assert _ask(conn, "GET", "/after-head") == (200, b"GET /after-head read=0")
    conn.close()


def test_a_chunked_request_is_answered_and_its_connection_closed(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("PUT", "/chunked?read", body=iter([b"abc", b"de"]), encode_chunked=True)
    reply = conn.getresponse()
    assert (reply.status, reply.read()) == (200, b"PUT /chunked read=5")
    assert reply.getheader("Connection") == "close"
    conn.close()


def test_an_app_error_is_a_500_and_closes_the_connection(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/boom", body=b"q" * 10)
    reply = conn.getresponse()
    assert reply.status == 500 and b"the app failed" in reply.read()
    assert reply.getheader("Connection") == "close"
    conn.close()


def test_a_client_gone_mid_body_leaves_the_server_serving_others(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"PUT /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert _ask(conn, "GET", "/next") == (200, b"GET /next read=0")
    conn.close()


def test_answers_larger_than_the_write_buffer_arrive_whole_on_one_connection(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert _ask(conn, "GET", "/large") == (200, LARGE)
    conn.request("HEAD", "/large")
    reply = conn.getresponse()
    assert reply.status == 200 and reply.read() == b""
    sock = conn.sock
    assert _ask(conn, "GET", "/large") == (200, LARGE)
    assert _ask(conn, "GET", "/after") == (200, b"GET /after read=0")
    assert conn.sock is sock
    conn.close()


def test_an_app_failing_after_part_of_its_answer_is_a_500_not_a_cut_answer(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/fails-mid-answer")
    reply = conn.getresponse()
    assert reply.status == 500 and b"failed mid-answer" in reply.read()
    assert reply.getheader("Connection") == "close"
    conn.close()


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize(("version", "interim"), [("HTTP/1.1", 1), ("HTTP/1.0", 0)])
def test_expect_100_continue_gets_one_interim_answer_and_only_on_http_1_1(
    port: int, version: str, interim: int
) -> None:
    """botocore sends `Expect: 100-continue` with a PutObject body and waits for the interim
    answer before sending it; an HTTP/1.0 request's expectation is ignored (RFC 9110 10.1.1)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"PUT /e?read {version}\r\nHost: x\r\nContent-Length: 3\r\n"
        sock.sendall(head.encode() + b"Expect: 100-continue\r\n\r\n")
        if interim:
            # The body is not sent yet: the server must answer before it, and only once.
            assert _read_until(sock, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        answer = _read_until(sock, b"PUT /e read=3")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer


def test_204_and_304_carry_no_body_and_the_connection_serves_the_next_request(port: int) -> None:
    """Were their body (or a length for it) sent, the next answer on the connection would be
    read from the wrong bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for path in ("/204", "/304"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        stream = _read_until(sock, b"GET /next read=0")
    answers = stream.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"204", b"304", b"200"], stream
    for answer in answers[:2]:
        assert answer.endswith(b"\r\n\r\n") and b"stray" not in answer
        assert b"Content-Length" not in answer and b'ETag: "e"' in answer
