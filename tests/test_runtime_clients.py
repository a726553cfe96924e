"""A sandbox's INIT builds one botocore session and only the clients its function uses.

Every client botocore builds is seen through `Session.create_client`; nothing is sent (the
endpoints point at a closed local port, and building a client sends no request).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from baton.handler.runtime import Runtime, WatchdogRuntime

Created = list[tuple[int, str]]


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[Created]:
    for name, value in {
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": "/nonexistent",
        # A table of its own: the job model bound to it keeps the client built here.
        "BATON_TABLE": f"clients-{uuid.uuid4().hex[:8]}",
        "BATON_STATE_BUCKET": "states",
    }.items():
        monkeypatch.setenv(name, value)
    seen: Created = []
    build = botocore.session.Session.create_client

    def counted(self: botocore.session.Session, service_name: str, *a: Any, **k: Any) -> Any:
        seen.append((id(self), service_name))
        return build(self, service_name, *a, **k)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    yield seen


def test_the_worker_builds_one_session_and_its_three_clients_at_init(created: Created) -> None:
    runtime = Runtime.from_env()

    assert sorted(name for _, name in created) == ["dynamodb", "lambda", "s3"]
    assert len({session for session, _ in created}) == 1, "one botocore session per sandbox"
    assert runtime.store.codec.s3 is runtime.s3, "spilled states use the tasks' S3 client"
    connection: Any = runtime.store.model._get_connection().connection
    assert connection.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert len(created) == 3, "the job table's client was built at INIT, not in the first hop"

    user = runtime.dynamodb
    assert user is not None
    assert user.meta.endpoint_url == "http://127.0.0.1:9", "the user-table client, when asked"
    assert user.meta.service_model.service_name == "dynamodb"
    assert [name for _, name in created[3:]] == ["dynamodb"], "built once, on first use"
    assert len({session for session, _ in created}) == 1


def test_the_watchdog_builds_no_s3_client(created: Created) -> None:
    runtime = WatchdogRuntime.from_env()

    assert sorted(name for _, name in created) == ["dynamodb", "lambda"]
    assert len({session for session, _ in created}) == 1
    assert runtime.store.codec.s3 is None, "a sweep never reads a job's state"
