"""The Lambda REST API on 127.0.0.1, as botocore's service model describes it.

Only the operations baton uses (and a few a user pokes at) are served, at the paths of
botocore's service model (`botocore/data/lambda/2015-03-31/service-2.json`):

- Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations`, with the header
  `X-Amz-Invocation-Type` `Event`, `RequestResponse` (the default) or `DryRun`;
- PutFunctionConcurrency: `PUT /2017-10-31/functions/{FunctionName}/concurrency`;
- GetFunctionConcurrency: `GET /2019-09-30/functions/{FunctionName}/concurrency`;
- DeleteFunctionConcurrency: `DELETE /2017-10-31/functions/{FunctionName}/concurrency`;
- Put/Get/DeleteFunctionEventInvokeConfig:
  `PUT`/`GET`/`DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config`;
- GetFunctionConfiguration: `GET /2015-03-31/functions/{FunctionName}/configuration`;
- GetFunction: `GET /2015-03-31/functions/{FunctionName}` (the configuration and the tags);
- TagResource / UntagResource: `POST` / `DELETE /2017-03-31/tags/{ARN}` (the kill switch keeps
  the reserved concurrency it replaced in a tag).

`{FunctionName}` is a name, `name:qualifier`, a partial ARN or a full ARN (percent-encoded by
botocore). Signatures are not checked.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from baton.local.lambda_service import errors
from baton.local.lambda_service.function_config import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT
from baton.local.lambda_service.service import LambdaService

Response = tuple[int, dict[str, str], bytes]
Route = Callable[["LambdaApi", str, dict[str, list[str]], Any, bytes], Response]


RouteEntry = tuple[str, re.Pattern[str], Route]


def _route(method: str, version: str, tail: str, route: Route) -> RouteEntry:
    return method, re.compile(rf"^/{version}/functions/(?P<fn>[^/]+)/{tail}/?$"), route


class LambdaApi:
    """Routing and (de)serialisation; the behaviour lives in LambdaService."""

    def __init__(self, service: LambdaService) -> None:
        self.service = service
        self.routes: list[RouteEntry] = [
            _route("POST", "2015-03-31", "invocations", LambdaApi.invoke),
            _route("PUT", "2017-10-31", "concurrency", LambdaApi.put_conc),
            _route("GET", "2019-09-30", "concurrency", LambdaApi.get_conc),
            _route("DELETE", "2017-10-31", "concurrency", LambdaApi.del_conc),
            _route("PUT", "2019-09-25", "event-invoke-config", LambdaApi.put_eic),
            _route("GET", "2019-09-25", "event-invoke-config", LambdaApi.get_eic),
            _route("DELETE", "2019-09-25", "event-invoke-config", LambdaApi.del_eic),
            _route("GET", "2015-03-31", "configuration", LambdaApi.get_config),
            ("GET", re.compile(r"^/2015-03-31/functions/(?P<fn>[^/]+)/?$"), LambdaApi.get_function),
            ("POST", re.compile(r"^/2017-03-31/tags/(?P<fn>[^/]+)/?$"), LambdaApi.tag),
            ("DELETE", re.compile(r"^/2017-03-31/tags/(?P<fn>[^/]+)/?$"), LambdaApi.untag),
        ]

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Response:
        url = urlsplit(target)
        query = parse_qs(url.query)
        for route_method, pattern, route in self.routes:
            match = pattern.match(url.path)
            if match and route_method == method:
                function = unquote(match.group("fn"))
                return route(self, function, query, headers, body)
        raise errors.unknown_operation(method, url.path)

    # -------------------------------------------------------------- function names

    def _check(self, function: str, query: dict[str, list[str]]) -> None:
        """404 unless `function` (and any Qualifier) names this function's $LATEST."""
        config = self.service.config
        resolved = config.resolve(function)
        if resolved is None:
            name = function if function.startswith("arn:") else function.rsplit(":", 1)[-1]
            arn = function if function.startswith("arn:") else config.arn.rsplit(":", 1)[0]
            raise errors.function_not_found(arn if ":" in name else f"{arn}:{name}")
        _, qualifier = resolved
        qualifiers = {qualifier, *(query.get("Qualifier") or [])} - {None}
        for q in qualifiers:
            if q != "$LATEST":
                raise errors.function_not_found(f"{config.arn}:{q}")

    # -------------------------------------------------------------- operations

    def invoke(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        kind = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind not in ("Event", "RequestResponse", "DryRun"):
            raise errors.invalid_parameter(
                f"X-Amz-Invocation-Type must be Event, RequestResponse or DryRun, got {kind!r}"
            )
        limit = ASYNC_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            raise errors.too_large(len(body), limit)
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError:
            raise errors.invalid_content("Could not parse request body into json") from None
        if kind == "DryRun":
            return 204, {}, b""
        if self.service.throttle_now():
            raise errors.throttled(
                "CallerRateLimitExceeded", "Rate Exceeded. (local throttle fault)"
            )
        if kind == "Event":
            request_id = self.service.invoke_async(event)
            return 202, {"x-amzn-RequestId": request_id}, b""
        invocation = self.service.invoke_sync(event)
        out = {"x-amzn-RequestId": invocation.request_id, "X-Amz-Executed-Version": "$LATEST"}
        if invocation.ending != "ok":
            out["X-Amz-Function-Error"] = "Unhandled"
        return 200, out, invocation.payload.encode()

    def put_conc(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, {})
        value = _json_body(body).get("ReservedConcurrentExecutions")
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.invalid_parameter("ReservedConcurrentExecutions must be an integer")
        reserved = self.service.config_api.put_concurrency(value)
        return _json(200, {"ReservedConcurrentExecutions": reserved})

    def get_conc(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, {})
        reserved = self.service.config_api.get_concurrency()
        return _json(200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    def del_conc(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, {})
        self.service.config_api.delete_concurrency()
        return 204, {}, b""

    def put_eic(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        request = _json_body(body)
        retries = request.get("MaximumRetryAttempts")
        max_age = request.get("MaximumEventAgeInSeconds")
        for name, value in (
            ("MaximumRetryAttempts", retries),
            ("MaximumEventAgeInSeconds", max_age),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise errors.invalid_parameter(f"{name} must be an integer")
        self.service.config_api.put_event_invoke_config(retries, max_age)
        return _json(200, self.service.config_api.event_invoke_config() or {})

    def get_eic(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        config = self.service.config_api.event_invoke_config()
        if config is None:
            raise errors.not_found(
                f"The function {self.service.config.arn} doesn't have an EventInvokeConfig"
            )
        return _json(200, config)

    def del_eic(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        self.service.config_api.delete_event_invoke_config()
        return 204, {}, b""

    def get_function(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        return _json(
            200,
            {"Configuration": self._configuration(), "Tags": dict(self.service.config_api.tags)},
        )

    def tag(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, {})
        tags = _json_body(body).get("Tags")
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise errors.invalid_parameter("Tags must be a map of strings")
        self.service.config_api.tags.update(tags)
        return 204, {}, b""

    def untag(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, {})
        for key in query.get("tagKeys", []):
            self.service.config_api.tags.pop(key, None)
        return 204, {}, b""

    def get_config(
        self, function: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> Response:
        self._check(function, query)
        return _json(200, self._configuration())

    def _configuration(self) -> dict[str, Any]:
        config = self.service.config
        return {
            "FunctionName": config.name,
            "FunctionArn": config.arn,
            "Runtime": "python3.11",
            "Handler": config.handler,
            "Timeout": max(1, math.ceil(config.timeout_ms / 1000)),
            "MemorySize": config.memory_mb,
            "Version": "$LATEST",
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
        }


def _json(status: int, value: dict[str, Any]) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body.strip() else {}
    except ValueError:
        raise errors.invalid_content("Could not parse request body into json") from None
    if not isinstance(value, dict):
        raise errors.invalid_content("the request body must be a JSON object")
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pools expect
    server: LambdaHttpServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, out = self.server.api.handle(
                self.command, self.path, self.headers, body
            )
        except errors.LambdaApiError as exc:
            status, headers, out = exc.status, exc.response_headers(), exc.body()
            headers["Content-Type"] = "application/json"
        except Exception as exc:
            traceback.print_exc()
            error = errors.service_error(f"{type(exc).__name__}: {exc}")
            status, headers, out = error.status, error.response_headers(), error.body()
        headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if out:
            self.wfile.write(out)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class LambdaHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, api: LambdaApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self._thread = threading.Thread(target=self.serve_forever, name="lambda-http", daemon=True)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LambdaHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end every open keep-alive connection, so no socket is left."""
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
