"""A request handler for moto's server that keeps HTTP/1.1 connections open between requests.

werkzeug's development server (which moto's server is) ends every response with
`Connection: close`, so each boto3 request opens a new TCP connection and the server starts a
new thread for it: CPU on both sides per request that S3, which keeps connections alive, does
not cost, and which hides what a client's connection pool does. This handler answers with a
`Content-Length` and no `Connection: close`, and reads each request's body to its end before
the next request line (werkzeug cannot do that, hence its close). A request whose body is
chunked is answered and its connection closed, as werkzeug does.

An answer leaves in one write (its headers and body are buffered until the handler flushes),
and a request is logged only when werkzeug's logger would print it: the server's CPU per
request is what limits how many requests a benchmark's concurrent client gets answered.

Imported only in the server's child process (it loads moto and werkzeug).
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import IO, Any, cast

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.wsgi import LimitedStream

# Headers this handler sets itself from the body it sends.
FRAMING = frozenset({"content-length", "connection", "transfer-encoding"})
# Answers that carry no body, whatever their headers say (RFC 9110 6.4.1).
BODILESS = frozenset({204, 304})
WERKZEUG_LOG = logging.getLogger("werkzeug")
# Bytes an answer may buffer before a write: an S3 page of 1,000 keys is about 300 KB.
WRITE_BUFFER = 64 * 1024


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, one connection serving many requests in turn."""

    wbufsize = WRITE_BUFFER  # buffered: the status line, headers and body go out together

    _date: tuple[int, str] = (0, "")  # the Date header of the current second

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, formatted once per second (`email.utils` per answer costs more
        than moto's own work on a small request)."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        second = int(time.time())
        if KeepAliveHandler._date[0] != second:
            KeepAliveHandler._date = (second, super().date_time_string(second))
        return KeepAliveHandler._date[1]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if WERKZEUG_LOG.isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def handle_expect_100(self) -> bool:
        """The one `100 Continue` (http.server asks for it on HTTP/1.1 requests only), sent
        now: the client waits for it before it sends the body. werkzeug's run_wsgi, replaced
        here, would send a second one."""
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        body_in: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True  # chunked: werkzeug's reader, then close
        else:
            body_in = LimitedStream(
                cast(IO[bytes], self.rfile), int(environ.get("CONTENT_LENGTH") or 0)
            )
            environ["wsgi.input"] = body_in
        answer: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            answer.append((status, headers))
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            self.close_connection = True
            answer[:] = [("500 Internal Server Error", [("Content-Type", "text/plain")])]
            chunks[:] = [traceback.format_exc().encode()]
        if body_in is not None:
            try:
                body_in.exhaust()  # what the app left unread, so the next request line is next
            except Exception:  # the client went away mid-body: answer if it can hear, then close
                self.close_connection = True
        self._send(environ["REQUEST_METHOD"], *answer[-1], b"".join(chunks))

    def _send(self, method: str, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        for name, value in headers:
            # A HEAD answer keeps the length of the body it does not send.
            if name.lower() not in FRAMING or (method == "HEAD" and name.lower() != "connection"):
                self.send_header(name, value)
        no_body = method == "HEAD" or code in BODILESS or 100 <= code < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body:
            self.wfile.write(body)
        self.wfile.flush()
