"""Guard rails on spend: a fan-out never runs more shards than the worker's reserved concurrency
leaves room for, whatever `max_concurrency` the job asked for."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from moto import mock_aws

from baton.handler.config import RelaySettings
from baton.store.errors import ConfigError
from baton.store.records import JobStatus
from tests.iam_scenarios import REGION, world
from tests.support import actions
from tests.support.inprocess_stack import local_stack
from tests.test_fanout import BUCKET, bucket, children, max_running, start_parent  # noqa: F401


@pytest.mark.parametrize(("reserved", "cap"), [(3, 2), (1, 1), (50, 10)])
def test_a_fan_out_runs_at_most_reserved_concurrency_less_one_shards(
    bucket: dict[str, int],  # noqa: F811
    reserved: int,
    cap: int,
) -> None:
    actions.reset()
    with local_stack(timeout_ms=1_500) as stack:  # inside the bucket fixture's mock_aws
        stack.runtime.settings = dataclasses.replace(
            stack.runtime.settings, reserved_concurrency=reserved
        )
        start_parent(stack, "capped", split="delimiter", shards=8, max_concurrency=10)
        stack.sim.drain()
        parent = stack.job("capped")
        assert parent.status is JobStatus.SUCCEEDED, parent.last_error
        assert len(children(stack, "capped")) == 10
        assert parent.counters["objects"] == len(bucket)
        assert max_running(stack, "capped") == cap


def test_the_cap_comes_from_the_deployment() -> None:
    assert RelaySettings.from_env({}).fanout_cap is None
    assert RelaySettings.from_env({"BATON_RESERVED_CONCURRENCY": "10"}).fanout_cap == 9
    assert RelaySettings.from_env({"BATON_RESERVED_CONCURRENCY": "0"}).fanout_cap == 1
    with pytest.raises(ConfigError, match="BATON_RESERVED_CONCURRENCY must be an integer"):
        RelaySettings.from_env({"BATON_RESERVED_CONCURRENCY": "ten"})


def test_lifting_the_kill_switch_restores_the_deployed_cap() -> None:
    """`kill-switch off` must not leave the worker with no limit at all."""
    import boto3

    with warnings.catch_warnings(), mock_aws(), world() as w:
        warnings.simplefilter("ignore", UserWarning)
        lam = boto3.client("lambda", region_name=REGION)
        # As deployed: the template's guard rail.
        lam.put_function_concurrency(FunctionName="baton-worker", ReservedConcurrentExecutions=10)
        w.baton("kill-switch", "on")
        w.baton("kill-switch", "on")  # a second `on` must not remember the 0 the first set
        w.baton("kill-switch", "off")
        reply = lam.get_function_concurrency(FunctionName="baton-worker")
        assert reply["ReservedConcurrentExecutions"] == 10
        # The switch set by another tool (no tag): the deployed value the CLI is told, the
        # stack's BATON_RESERVED_CONCURRENCY (in its BatonEnvironment output).
        lam.put_function_concurrency(FunctionName="baton-worker", ReservedConcurrentExecutions=0)
        settings = w.stack.runtime.settings
        w.stack.runtime.settings = dataclasses.replace(settings, reserved_concurrency=10)
        w.baton("kill-switch", "off")
        reply = lam.get_function_concurrency(FunctionName="baton-worker")
        assert reply["ReservedConcurrentExecutions"] == 10
        # With neither, the CLI can only lift the limit.
        lam.put_function_concurrency(FunctionName="baton-worker", ReservedConcurrentExecutions=0)
        w.stack.runtime.settings = settings
        w.baton("kill-switch", "off")
        reply = lam.get_function_concurrency(FunctionName="baton-worker")
        assert "ReservedConcurrentExecutions" not in reply
