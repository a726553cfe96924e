"""`baton start` retried after its create's outcome was unknown: the same start ends in a running
job (its first event is sent), never in a job that waits QUEUED with no event in flight.

The create lands and its answer is lost inside botocore's retry loop; every retry and the
read-back are throttled, so the caller gets `WriteUnknown`. In process: moto, LambdaSim.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from baton.handler.launch import launch, prepare
from baton.store.errors import WriteUnknown
from baton.store.records import JobStatus
from tests.support.inprocess_stack import local_stack
from tests.support.lambda_sim import FUNCTION
from tests.support.lost_answers import FailRequests, LoseAnswers, install, put_write


def get_item(op: str, body: object) -> bool:
    return op == "GetItem"


def test_start_after_a_create_of_unknown_outcome_sends_the_event() -> None:
    with mock_aws(), local_stack() as stack:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="unknown-create")
        for i in range(4):
            s3.put_object(Bucket="unknown-create", Key=f"k{i}", Body=b"x" * i)
        spec = prepare(
            "s3-walk",
            {"bucket": "unknown-create"},
            action_modules=(),
            now_ms=stack.clock.now_ms(),
            job_id="maybe-created",
        )
        client = stack.store.model._get_connection().connection.client
        outage = FailRequests()

        def dynamodb_goes_away() -> None:
            outage.fail(put_write, 10)
            outage.fail(get_item, 10)

        lose = LoseAnswers(meanwhile=dynamodb_goes_away)
        lose.lose(put_write, 1)
        install(client, lose)
        client.meta.events.register_first("before-send.dynamodb", outage)
        with pytest.raises(WriteUnknown):
            launch(stack.store, stack.runtime.lambda_client, FUNCTION, spec)
        assert not stack.sim.queue, "the caller never got to the invoke"
        outage.rules.clear()  # DynamoDB is back; the operator runs the same start again

        again = launch(stack.store, stack.runtime.lambda_client, FUNCTION, spec)
        assert stack.sim.invokes == [{"job_id": "maybe-created", "epoch": 1}]
        assert (again.created, again.sent) == (False, True)
        stack.sim.drain()
        done = stack.job("maybe-created")
        assert done.status is JobStatus.SUCCEEDED and done.counters["objects"] == 4
        # Now that a hop ran, the same start sends nothing.
        third = launch(stack.store, stack.runtime.lambda_client, FUNCTION, spec)
        assert (third.created, third.sent) == (False, False)
        assert len(stack.sim.invokes) == 1
