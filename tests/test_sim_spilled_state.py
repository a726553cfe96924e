"""A spilled state survives a write whose answer is lost, and a timed-out write is a store error.

1. A commit's item write can land and still raise (the response is lost: a read timeout after
   DynamoDB applied it). The state object the commit spilled to S3 must then stay: the item
   points at it, and the next hop, or `resume`, reads its cursor from it. Deleting it on the
   error would leave the job with a StateCorrupt cursor (the simulator's shrunk schedule: spill
   on, hop 6 of a 12-item job commits FAILED at max_hops, the answer is lost, resume fails).
2. botocore's connection-level errors (ReadTimeoutError, ConnectionClosedError) carry
   `response=None`; a conditional write that times out must surface as the store's error, not
   as an AttributeError the relay would count as a task error and the CLI print as a traceback.

The store never deletes the object a commit wrote (a refused write may be its own earlier
attempt, see store/writes.py), reads the item back for its token after a write of unknown
outcome, and reads the AWS error code without tripping over connection-level errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from moto import mock_aws
from pynamodb.exceptions import PynamoDBException

from baton.store.codec import StateCodec
from baton.store.errors import BatonError
from baton.store.job_store import JobStore
from baton.store.model import bind_job_model
from baton.store.records import JobSpec, Progress
from tests.sim.core import Rates
from tests.sim.scenario import Config, Env
from tests.sim.sweep import sweep
from tests.sim.tasks import SIM_TASK, ensure_registered

REGION = "us-east-1"


class LoseNextResponse:
    """after-call hook: the next UpdateItem lands in DynamoDB, then the caller sees a timeout."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if self.armed and model.name == "UpdateItem" and http_response.status_code == 200:
            self.armed = False
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


LOSE = LoseNextResponse()


@pytest.fixture
def spilled() -> Iterator[tuple[JobStore, Any, LoseNextResponse]]:
    with mock_aws():
        ensure_registered()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="spilled-state")
        model = bind_job_model("spilled-jobs", REGION, None)
        store = JobStore(model, codec=StateCodec(s3, "spilled-state", inline_limit=0))
        store.ensure_table()
        LOSE.armed = False
        # botocore keeps the first handler registered under a unique id: one shared instance.
        model._get_connection().connection.client.meta.events.register(
            "after-call.dynamodb.UpdateItem", LOSE, unique_id="lose-next-answer"
        )
        yield store, s3, LOSE


def claimed(store: JobStore, job_id: str) -> Any:
    store.create(JobSpec(job_id, SIM_TASK, {"items": 10}, max_hops=10, max_attempts=3))
    claim = store.claim(job_id, 1, "req-1/abc", deadline_ms=store.clock.now_ms() + 60_000)
    assert hasattr(claim, "lease"), claim
    return claim


def test_a_commit_whose_response_is_lost_keeps_its_state_object(spilled: Any) -> None:
    store, _, lose = spilled
    claim = claimed(store, "lost-response")
    claim.checkpoint(Progress({"next": 3}, {"items": 3}))
    lose.armed = True
    # The answer is lost past botocore's retries; reading the item back finds the write's token.
    claim.checkpoint(Progress({"next": 5}, {"items": 5}))
    job = store.get("lost-response")
    assert job.counters == {"items": 5}, "the second checkpoint landed"
    assert store.load_state(job) == {"next": 5}, "its state object must still be there"
    claim.checkpoint(Progress({"next": 6}, {"items": 6}))  # the holder goes on


def test_a_timed_out_write_raises_a_store_error_not_attribute_error(spilled: Any) -> None:
    store, _, lose = spilled
    claim = claimed(store, "timeout")
    lose.armed = True
    try:
        claim.checkpoint(Progress({"next": 1}, {"items": 1}))
    except (PynamoDBException, BatonError):
        return
    except AttributeError as exc:
        pytest.fail(f"a read timeout surfaced as {type(exc).__name__}: {exc}")
    assert store.get("timeout").counters == {"items": 1}, "no error, so it must have landed"


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with mock_aws():
        yield Env.create()


def test_spilled_state_under_every_fault_including_lost_responses(env: Env) -> None:
    hostile = Rates(ddb=0.2, ddb_kinds=("ddb_lost_response", "ddb_in_flight"))
    result = sweep(env, range(30_000, 30_040), Config(spill=1.0, rates=hostile), stop_after=1)
    assert not result.failures, result.failures[0][1].describe(tail=40)
