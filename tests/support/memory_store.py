"""A job store on moto's in-process DynamoDB, for tests of the store's protocol."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto import mock_aws

from baton.store.job_store import JobStore
from baton.store.model import bind_job_model
from tests.support.virtual_clock import VirtualClock


@contextmanager
def memory_store() -> Iterator[JobStore]:
    """A fresh table (its own name, so tests never share items) and a virtual clock that moves
    1 ms per read, so leases and deadlines are exact."""
    with mock_aws():
        model = bind_job_model(f"jobs-{uuid.uuid4().hex[:8]}", "us-east-1", None)
        store = JobStore(model, VirtualClock(tick_ms=1))
        store.ensure_table()
        yield store
