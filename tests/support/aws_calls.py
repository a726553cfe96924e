"""Record every AWS API call a process sends, and who sent it, through a botocore event hook.

moto enforces no IAM, so the calls the code really makes are the only honest input for checking
the template's policies (tests/test_iam_from_code.py). The hook is `before-parameter-build`,
which every client emits once per API call with the caller's own parameters, before any
`before-call` handler can answer in place of AWS (as LambdaSim does for Invoke) and before
botocore's retries (a retried call is one call for IAM).

It is added to botocore's built-in handlers, so every session made while it is installed
carries it: boto3 sessions, pynamodb's own botocore sessions, the CLI's clients. Only calls made
while a principal is set are kept (`acting_as("worker")`), each distinct call once: recording
costs a dict lookup per call.

In another process (a local-stack worker) set BATON_RECORD_CALLS to a file and
BATON_RECORD_PRINCIPAL to the principal, and call `install_from_env()` (the handlers in
tests/support/recorded_handlers.py do): each distinct call is appended to the file as a JSON
line, which `read_calls` reads back.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore import handlers

EVENT = "before-parameter-build"
FILE_ENV = "BATON_RECORD_CALLS"
PRINCIPAL_ENV = "BATON_RECORD_PRINCIPAL"

# The parameters that name a resource, the only ones IAM looks at. Anything else (item bodies,
# payloads) is dropped at once.
RESOURCE_PARAMS = (
    "TableName",
    "IndexName",
    "Bucket",
    "Key",
    "VersionId",
    "CopySource",
    "FunctionName",
    "Qualifier",
    "QueueUrl",
    "QueueName",
    "Resource",  # lambda TagResource, UntagResource
)


@dataclass(frozen=True)
class Call:
    """One distinct AWS API call: who sent it, the operation, and the resources it names."""

    principal: str
    service: str  # botocore's service id, hyphenated: dynamodb, s3, lambda, sqs
    operation: str  # the API operation: GetItem, ListObjectsV2, ...
    region: str
    resources: str  # JSON of the resource-naming parameters (sorted keys)

    @property
    def params(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.resources)
        return loaded

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Call:
        return cls(**json.loads(line))


def resource_params(params: dict[str, Any]) -> dict[str, Any]:
    """What names a resource in `params`, including the tables of batch and transact calls."""
    out: dict[str, Any] = {k: str(params[k]) for k in RESOURCE_PARAMS if k in params}
    if isinstance(params.get("CopySource"), dict):
        source = params["CopySource"]
        out["CopySource"] = f"{source['Bucket']}/{source['Key']}"
    if "RequestItems" in params:  # BatchGetItem, BatchWriteItem
        out["RequestItems"] = sorted(params["RequestItems"])
    if "TransactItems" in params:  # TransactWriteItems, TransactGetItems
        out["TransactItems"] = sorted(
            {
                (kind, body["TableName"])
                for item in params["TransactItems"]
                for kind, body in item.items()
            }
        )
    if "Delete" in params and isinstance(params["Delete"], dict):  # s3 DeleteObjects
        out["Keys"] = sorted(o["Key"] for o in params["Delete"].get("Objects", []))
    return out


class Recorder:
    """Keeps each distinct call made while a principal is set; optionally appends it to a file."""

    def __init__(self, path: Path | None = None, principal: str | None = None) -> None:
        self.path = path
        # A plain attribute, not a context variable: threads a hop starts (action pools) act
        # for the same principal as the hop.
        self.principal = principal
        self.calls: set[Call] = set()
        self._lock = threading.Lock()

    def __call__(
        self, params: dict[str, Any], model: Any, context: Any = None, **kwargs: Any
    ) -> None:
        principal = self.principal
        if principal is None:
            return
        _, service, operation = kwargs["event_name"].split(".", 2)
        region = (context or {}).get("client_region") or ""
        call = Call(
            principal,
            service,
            operation,
            str(region),
            json.dumps(resource_params(params), sort_keys=True),
        )
        if call in self.calls:
            return
        with self._lock:
            if call in self.calls:
                return
            self.calls.add(call)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(call.to_json() + "\n")

    @contextmanager
    def acting_as(self, principal: str | None) -> Iterator[None]:
        saved, self.principal = self.principal, principal
        try:
            yield
        finally:
            self.principal = saved


@contextmanager
def global_handler(event: str, handler: Callable[..., Any]) -> Iterator[None]:
    """Register `handler` on every botocore session made inside the block (and boto3's default
    session, if one exists already)."""
    import boto3

    spec = (event, handler)
    handlers.BUILTIN_HANDLERS.append(spec)
    default = boto3.DEFAULT_SESSION
    if default is not None:
        default._session.register(event, handler)
    try:
        yield
    finally:
        handlers.BUILTIN_HANDLERS.remove(spec)
        if default is not None:
            default._session.unregister(event, handler)


@contextmanager
def recording(path: Path | None = None) -> Iterator[Recorder]:
    """A recorder hooked into every session made inside the block.

    A job model bound earlier in this process (`bind_job_model` keeps the last few) would keep
    its connection, whose session was made before the hook: the cache is emptied on the way in,
    so the block's stores connect anew, and on the way out, so no later test gets a hooked one.
    """
    from baton.store.model import bind_job_model

    recorder = Recorder(path)
    bind_job_model.cache_clear()
    try:
        with global_handler(EVENT, recorder):
            yield recorder
    finally:
        bind_job_model.cache_clear()


def install_from_env() -> Recorder | None:
    """In a subprocess: record for good when BATON_RECORD_CALLS names a file."""
    path = os.environ.get(FILE_ENV)
    if not path:
        return None
    recorder = Recorder(Path(path), os.environ.get(PRINCIPAL_ENV, "worker"))
    handlers.BUILTIN_HANDLERS.append((EVENT, recorder))
    return recorder


def read_calls(path: Path) -> set[Call]:
    if not path.exists():
        return set()
    return {Call.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line}
