"""Counters are bounded: a task that counts per tenant ends with an error naming the limit, and
a write DynamoDB refuses for the item's size says so (never "an attribute has the wrong type")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

import tests.support.tenant_task  # noqa: F401 - registers the "tenant-counts" task
from baton.handler.launch import send_event
from baton.store.constants import MAX_COUNTER_NAMES
from baton.store.errors import ItemTooLarge
from baton.store.records import JobStatus
from baton.store.writes import Writer, new_token
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import FUNCTION


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws(), local_stack(timeout_ms=5_000, checkpoint_s=1) as s:
        yield s


def count_tenants(stack: Stack, job_id: str, tenants: int) -> None:
    stack.start({"tenants": tenants, "per_step": 500}, task="tenant-counts", job_id=job_id)
    stack.sim.drain()


def test_fifty_thousand_counter_names_end_with_an_error_naming_the_limit(stack: Stack) -> None:
    count_tenants(stack, "per-tenant", 50_000)
    job = stack.job("per-tenant")
    assert job.status is JobStatus.FAILED
    error = job.last_error or ""
    assert "wrong type" not in error
    assert f"at most {MAX_COUNTER_NAMES:,} counter names" in error, error
    assert "per-tenant" in error and "counter names" in error
    # What was committed is within the bound, and exact for the cursor it goes with.
    assert len(job.counters) <= MAX_COUNTER_NAMES
    state = stack.store.load_state(job) if job.has_state else None
    assert job.counters.get("items", 0) == (state["next"] if state else 0)

    # A resume meets the same clear error, and the job stays readable and resumable.
    send_event(stack.runtime.lambda_client, FUNCTION, stack.store.resume("per-tenant"))
    stack.sim.drain()
    again = stack.job("per-tenant")
    assert again.status is JobStatus.FAILED
    assert f"at most {MAX_COUNTER_NAMES:,} counter names" in (again.last_error or "")


def test_counter_names_within_the_limit_are_kept_exactly(stack: Stack) -> None:
    count_tenants(stack, "few-tenants", MAX_COUNTER_NAMES - 1)
    job = stack.job("few-tenants")
    assert job.status is JobStatus.SUCCEEDED, job.last_error
    assert job.counters["items"] == MAX_COUNTER_NAMES - 1
    assert all(job.counters[f"tenant:{n:06d}"] == 1 for n in range(MAX_COUNTER_NAMES - 1))


def test_a_write_past_the_item_size_limit_is_named_as_such(stack: Stack) -> None:
    count_tenants(stack, "sized", 3)
    model = stack.store.model
    writer = Writer(model)
    with pytest.raises(ItemTooLarge, match="400 KB item limit") as raised:
        writer.update(
            "sized", [model.last_error.set("x" * 420_000)], model.job_id.exists(), new_token()
        )
    assert "wrong type" not in str(raised.value)
