"""A worker started with a bad setting (as `baton up --checkpoint-s 0` did) says so on the job:
real worker processes of the local Lambda service, moto's server, the real handler."""

from __future__ import annotations

import pytest

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes


def test_a_worker_with_a_bad_setting_records_it_on_the_job() -> None:
    with LocalStack(
        function=FunctionConfig(timeout_ms=15_000),  # ample for a cold start on a busy host
        worker_env={"BATON_CHECKPOINT_S": "0"},  # the function's variable, as deployed
        log_level="WARNING",
    ) as stack:
        stack.client("s3").create_bucket(Bucket="cfg-local")
        spec = prepare("s3-walk", {"bucket": "cfg-local"}, action_modules=(), now_ms=0)
        launch(stack.store, stack.client("lambda"), stack.function.name, spec)
        job = stack.wait_for_job(
            spec.job_id,
            lambda job: job.attempts >= 1,
            timeout_s=60,
            what="a failed attempt recorded",
        )
    assert job.last_error is not None
    assert "the worker cannot run" in job.last_error and "BATON_CHECKPOINT_S" in job.last_error
    assert job.lease_owner is None, "released for Lambda's retry"
