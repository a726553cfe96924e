"""The local Lambda service on its own, through boto3 over HTTP, with a tiny test handler.

What a boto3 user (and baton's relay) relies on: the REST API and its errors, contexts, warm
reuse, deadlines that kill, async retries that wait for the lease to expire, dead letters,
reserved concurrency, and the fault knobs.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from tests.support.local_e2e import wait_until

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

HANDLER = "tests.support.local_handlers.handle"
TIMEOUT_MS = 1_000


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    function = FunctionConfig(timeout_ms=TIMEOUT_MS, handler=HANDLER, retry_scale=600.0)
    with LocalStack(function=function, log_level="WARNING") as s:
        yield s


def invoke(stack: LocalStack, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    client = stack.client("lambda", max_attempts=kwargs.pop("max_attempts", 4))
    response: dict[str, Any] = client.invoke(
        FunctionName=kwargs.pop("FunctionName", "baton-worker"),
        Payload=json.dumps(event).encode(),
        **kwargs,
    )
    return response


def runs(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sync_invoke_by_name_or_arn_gets_a_lambda_context_and_reuses_warm_workers(
    stack: LocalStack,
) -> None:
    arn = stack.function.arn
    names = ["baton-worker", arn, f"{arn}:$LATEST", "123456789012:function:baton-worker"]
    results = []
    for name in names:
        response = invoke(stack, {"tag": name}, FunctionName=name)
        assert response["StatusCode"] == 200
        assert "FunctionError" not in response
        assert response["ExecutedVersion"] == "$LATEST"
        results.append(json.loads(response["Payload"].read()))
    first = results[0]
    assert first["function_name"] == "baton-worker"
    assert first["invoked_function_arn"] == arn
    assert first["memory_limit_in_mb"] == 1024
    assert first["function_version"] == "$LATEST"
    assert first["log_group_name"] == "/aws/lambda/baton-worker"
    assert 0 < first["remaining_ms"] <= TIMEOUT_MS
    # The worker's own Lambda client would reach this service, as the relay's hand-off must.
    assert first["endpoint"] == stack.lambda_url
    # One warm process served every call, each with a request id of its own.
    assert len({r["pid"] for r in results}) == 1
    assert len({r["request_id"] for r in results}) == len(names)
    assert stack.lambda_.snapshot()["cold_starts"] == 1


def test_api_errors_are_lambdas_so_botocore_raises_the_modelled_exceptions(
    stack: LocalStack,
) -> None:
    client = stack.client("lambda", max_attempts=1)
    missing = [
        {"FunctionName": "other-function"},
        {"FunctionName": f"{stack.function.arn}:prod"},
        {"FunctionName": "baton-worker", "Qualifier": "7"},
        {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:baton-worker"},
    ]
    for args in missing:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
            client.invoke(InvocationType="Event", Payload=b"{}", **args)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "Function not found" in caught.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="baton-worker", Payload=b"{not json")
    with pytest.raises(client.exceptions.RequestTooLargeException):
        client.invoke(
            FunctionName="baton-worker", InvocationType="Event", Payload=b'"' + b"x" * 1_048_577
        )
    dry = client.invoke(FunctionName="baton-worker", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.put_function_concurrency(
            FunctionName="baton-worker", ReservedConcurrentExecutions=99
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName="baton-worker")
    with pytest.raises(ClientError) as unknown:
        client.list_versions_by_function(FunctionName="baton-worker")
    assert unknown.value.response["Error"]["Code"] == "UnknownOperationException"
    # None of that ran anything.
    assert stack.lambda_.snapshot().get("invocations", 0) == 0


def test_timeout_kills_the_worker_and_a_crash_is_a_function_error(
    stack: LocalStack, tmp_path: Path
) -> None:
    log = tmp_path / "runs.jsonl"
    began = time.monotonic()
    response = invoke(stack, {"mode": "sleep", "seconds": 30, "log": str(log)})
    took = time.monotonic() - began
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert "timed out after 1.00 seconds" in error["errorMessage"]
    assert 0.9 < took < 5
    (run,) = runs(log)
    assert not alive(run["pid"]), "the timed-out worker must be killed, as Lambda kills it"
    assert run["pid"] not in stack.lambda_.worker_pids()

    crashed = invoke(stack, {"mode": "exit"})
    assert crashed["FunctionError"] == "Unhandled"
    assert json.loads(crashed["Payload"].read())["errorType"] == "Runtime.ExitError"
    failed = invoke(stack, {"mode": "fail", "tag": "t"})
    assert failed["FunctionError"] == "Unhandled"
    payload = json.loads(failed["Payload"].read())
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == "asked to fail (t)"
    # After all that, a new worker serves normally.
    assert "FunctionError" not in invoke(stack, {"tag": "after"})


def test_async_failure_is_retried_on_lambdas_schedule_then_dead_lettered(
    stack: LocalStack, tmp_path: Path
) -> None:
    log = tmp_path / "runs.jsonl"
    response = invoke(stack, {"mode": "fail", "log": str(log)}, InvocationType="Event")
    assert response["StatusCode"] == 202
    wait_until(lambda: bool(stack.lambda_.dead_letters()), timeout_s=30, what="the dead letter")
    attempts = runs(log)
    assert len(attempts) == 3, "one delivery and MaximumRetryAttempts=2 retries"
    request_id = response["ResponseMetadata"]["RequestId"]
    assert {a["request_id"] for a in attempts} == {request_id}
    function = stack.lambda_.config
    for retry, (earlier, later) in enumerate(itertools.pairwise(attempts), start=1):
        # Lambda's 1 and 2 minutes, scaled: counted from the failure, not from the deadline.
        assert later["started_ms"] - earlier["started_ms"] >= function.retry_delay_ms(retry)
    (letter,) = stack.lambda_.dead_letters()
    assert letter.reason == "RetriesExhausted"
    assert letter.attempts == 3
    assert letter.request_id == request_id
    assert "asked to fail" in (letter.last_error or "")
    assert letter.event == {"mode": "fail", "log": str(log)}
    on_disk = [json.loads(line) for line in stack.lambda_.dead_letter_path.read_text().splitlines()]
    assert on_disk == [letter.to_dict()]


def test_event_invoke_config_sets_the_retries(stack: LocalStack, tmp_path: Path) -> None:
    client = stack.client("lambda")
    client.put_function_event_invoke_config(FunctionName="baton-worker", MaximumRetryAttempts=0)
    got = client.get_function_event_invoke_config(FunctionName=stack.function.arn)
    assert got["MaximumRetryAttempts"] == 0
    log = tmp_path / "runs.jsonl"
    invoke(stack, {"mode": "fail", "log": str(log)}, InvocationType="Event")
    wait_until(lambda: bool(stack.lambda_.dead_letters()), timeout_s=10, what="the dead letter")
    assert len(runs(log)) == 1
    assert stack.lambda_.dead_letters()[0].attempts == 1


def test_reserved_concurrency_caps_parallel_workers_and_zero_dead_letters_events(
    stack: LocalStack, tmp_path: Path
) -> None:
    client = stack.client("lambda", max_attempts=1)
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(
        FunctionName="baton-worker"
    )
    put = client.put_function_concurrency(
        FunctionName=stack.function.arn, ReservedConcurrentExecutions=2
    )
    assert put["ReservedConcurrentExecutions"] == 2
    got = client.get_function_concurrency(FunctionName="baton-worker")
    assert got["ReservedConcurrentExecutions"] == 2
    for i in range(6):
        invoke(stack, {"mode": "sleep", "seconds": 0.4, "tag": i}, InvocationType="Event")
    wait_until(
        lambda: stack.lambda_.snapshot().get("ok", 0) == 6 and stack.lambda_.idle(),
        timeout_s=30,
        what="six invocations",
    )
    spans = [(i.started_at_ms, i.started_at_ms + i.duration_ms) for i in stack.lambda_.invocations]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == 2, f"reserved concurrency 2 must cap the workers running at once, saw {most}"
    assert len(stack.lambda_.worker_pids()) <= 2

    client.put_function_concurrency(FunctionName="baton-worker", ReservedConcurrentExecutions=0)
    log = tmp_path / "runs.jsonl"
    accepted = invoke(stack, {"log": str(log)}, InvocationType="Event")
    assert accepted["StatusCode"] == 202, "async invokes are accepted, then not run"
    (letter,) = stack.lambda_.dead_letters()
    assert letter.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert letter.attempts == 0
    with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
        invoke(stack, {"log": str(log)}, max_attempts=1)
    assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert not log.exists(), "nothing runs while reserved concurrency is 0"

    client.delete_function_concurrency(FunctionName="baton-worker")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(
        FunctionName="baton-worker"
    )
    assert "FunctionError" not in invoke(stack, {"log": str(log)})
    assert len(runs(log)) == 1


def test_fault_knobs_throttle_duplicate_and_kill(stack: LocalStack, tmp_path: Path) -> None:
    service = stack.lambda_
    client = stack.client("lambda", max_attempts=1)
    service.set_faults(FaultConfig(throttle=Fault(1.0, seed=1)))
    with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
        client.invoke(FunctionName="baton-worker", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert service.snapshot().get("accepted", 0) == 0

    service.set_faults(FaultConfig(duplicate=Fault(1.0, seed=2)))
    log = tmp_path / "dup.jsonl"
    response = invoke(stack, {"log": str(log)}, InvocationType="Event")
    wait_until(lambda: len(runs(log)) == 2, timeout_s=10, what="the duplicate delivery")
    assert {r["request_id"] for r in runs(log)} == {response["ResponseMetadata"]["RequestId"]}

    service.set_faults(FaultConfig(kill=Fault(1.0, seed=3)))
    stack.client("lambda").put_function_event_invoke_config(
        FunctionName="baton-worker", MaximumRetryAttempts=0
    )
    log = tmp_path / "kill.jsonl"
    invoke(stack, {"mode": "sleep", "seconds": 5, "log": str(log)}, InvocationType="Event")
    wait_until(lambda: bool(service.dead_letters()), timeout_s=10, what="the killed event")
    (letter,) = service.dead_letters()
    assert "Runtime.ExitError" in (letter.last_error or "")
    (run,) = runs(log)
    assert not alive(run["pid"])
    assert service.snapshot()["killed"] == 1

    # The same seed gives the same decisions.
    decisions = []
    for _ in range(2):
        service.set_faults(FaultConfig(throttle=Fault(0.5, seed=42)))
        decisions.append([service.throttle_now() for _ in range(32)])
    assert decisions[0] == decisions[1]
    assert 4 < sum(decisions[0]) < 28
