"""Bad input, end to end: events through the real handler, the CLI's arguments and job ids,
task parameters, and stored items that are truncated, mistyped or lose their state.

Each must get a clear answer (a rejected event, a one-line error and an exit code, InvalidJob,
a FAILED job with a readable last_error), never a crash loop (an invocation that raises on a
permanently bad item is retried by Lambda, again and again through the watchdog), and never a
partial write. tests/test_event.py covers the parser itself; these go through the entry points.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.context import CliContext
from baton.cli.main import app
from baton.handler.app import lambda_handler
from baton.handler.launch import prepare
from baton.handler.tasks.framework.catalog import known_tasks
from baton.store.constants import JOB_ID_PATTERN
from baton.store.errors import InvalidJob
from baton.store.records import JobSpec, JobStatus
from tests.sim.tasks import SIM_TASK, ensure_registered
from tests.support.inprocess_stack import Stack, local_stack
from tests.test_cli import make_function

REGION = "us-east-1"
runner = CliRunner()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=10,
)
# Text that is hostile to ids, shells and terminals: control characters, RTL marks, NUL, long.
nasty_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=129, max_size=400),
    st.sampled_from(
        ["", " ", "-", "--", "--json", "../../etc", "a\x00b", "\u202ejob", "job\n2", "x" * 129]
    ),
)


class Writes:
    """Counts the conditional writes that landed on the jobs table."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if (
            model.name in ("UpdateItem", "PutItem", "DeleteItem")
            and http_response.status_code < 300
        ):
            self.count += 1


WRITES = Writes()


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws():
        ensure_registered()
        with local_stack() as s:
            s.store.model._get_connection().connection.client.meta.events.register(
                "after-call.dynamodb", WRITES, unique_id="fuzz-writes"
            )
            yield s


# ------------------------------------------------------------------ events via the handler


@FUZZ
@given(event=json_values)
def test_any_event_is_rejected_or_discarded_without_a_write(stack: Stack, event: Any) -> None:
    before = WRITES.count
    result = lambda_handler(event, context(stack))
    assert result["outcome"] in ("rejected", "discarded"), result
    assert result.get("detail"), "every refusal says why"
    assert WRITES.count == before, "a bad event wrote to the jobs table"


@FUZZ
@given(job_id=st.from_regex(JOB_ID_PATTERN, fullmatch=True), epoch=st.integers(1, 2**53))
def test_well_formed_events_for_unknown_jobs_are_discarded(
    stack: Stack, job_id: str, epoch: int
) -> None:
    before = WRITES.count
    result = lambda_handler({"job_id": job_id, "epoch": epoch}, context(stack))
    assert result["outcome"] == "discarded" and result["detail"] == "not_found"
    assert WRITES.count == before


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_raw_payload_bytes_never_crash_the_entry_point(stack: Stack, raw: bytes) -> None:
    """Lambda hands the handler whatever JSON the bytes decode to; non-JSON never arrives."""
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return
    assert lambda_handler(event, context(stack))["outcome"] in ("rejected", "discarded")


def context(stack: Stack) -> Any:
    from tests.support.lambda_sim import FakeContext

    return FakeContext(stack.clock, stack.clock.now_ms() + 5_000)


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    with mock_aws():
        make_function("baton-worker")
        invokes: list[dict[str, Any]] = []

        def record(params: dict[str, Any], **_: Any) -> Any:
            invokes.append(json.loads(params["body"]))
            return AWSResponse("https://lambda", 202, {}, None), {"StatusCode": 202}

        client = boto3.client("lambda", region_name=REGION)
        client.meta.events.register("before-call.lambda.Invoke", record)
        monkeypatch.setattr(CliContext, "lambda_client", property(lambda self: client))
        assert runner.invoke(app, ["init"], env={"BATON_TABLE": "fuzz-jobs"}).exit_code == 0
        yield invokes


def baton(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"BATON_TABLE": "fuzz-jobs"})


def assert_clean(result: Any) -> None:
    """Exit 0, or exit 1/2 with one `error:` line; never a traceback or an uncaught exception."""
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code:
        # baton's own errors print `error: ...`; typer's usage errors print an "Error" box.
        assert "error" in result.output.lower(), result.output


@settings(FUZZ, max_examples=50)
@given(job_id=nasty_text, command=st.sampled_from(["status", "pause", "cancel", "resume"]))
def test_operator_commands_with_any_job_id(
    cli: list[dict[str, Any]], job_id: str, command: str
) -> None:
    result = baton(command, "--", job_id) if job_id.startswith("-") else baton(command, job_id)
    assert_clean(result)
    assert result.exit_code != 0, f"{command} {job_id!r} succeeded on an empty table"
    assert cli == [], "nothing was invoked"


@FUZZ
@given(
    bucket=nasty_text,
    job_id=nasty_text,
    max_hops=st.integers(-(2**40), 2**40).map(str) | nasty_text,
    action_params=nasty_text,
)
def test_start_with_any_arguments(
    cli: list[dict[str, Any]], bucket: str, job_id: str, max_hops: str, action_params: str
) -> None:
    before = len(cli)
    result = baton(
        "start",
        "s3-walk",
        f"--bucket={bucket}",
        f"--job-id={job_id}",
        f"--max-hops={max_hops}",
        f"--action-params={action_params}",
        "--json",
    )
    assert_clean(result)
    if result.exit_code == 0:
        job = json.loads(result.output)
        assert JOB_ID_PATTERN.match(job["job_id"]) and job["status"] == "QUEUED"
    else:
        assert len(cli) == before, "a refused start invoked the worker"


# ------------------------------------------------------------------ task parameters


@FUZZ
@given(
    task=st.sampled_from(known_tasks()), params=st.dictionaries(st.text(max_size=20), json_values)
)
def test_task_parameters_are_validated_or_refused(task: str, params: dict[str, Any]) -> None:
    ensure_registered()
    try:
        spec = prepare(task, params, action_modules=(), now_ms=1_800_000_000_000)
    except InvalidJob as exc:
        assert str(exc)
        return
    json.dumps(spec.params, allow_nan=False)  # raises unless the normalised params are JSON
    assert isinstance(spec.params, dict)


@FUZZ
@given(params=st.fixed_dictionaries({"bucket": json_values}, optional={"prefix": json_values}))
def test_s3_walk_refuses_every_non_bucket(params: dict[str, Any]) -> None:
    try:
        spec = prepare("s3-walk", params, action_modules=(), now_ms=1_800_000_000_000)
    except InvalidJob as exc:
        assert "bucket" in str(exc) or "prefix" in str(exc)
        return
    assert isinstance(spec.params["bucket"], str)


# ------------------------------------------------------------------ stored items


def seed_job(stack: Stack, job_id: str, items: int = 6) -> None:
    spec = JobSpec(job_id, SIM_TASK, {"items": items}, max_hops=20, max_attempts=3)
    stack.store.create(spec)


def raw_item(stack: Stack, job_id: str) -> dict[str, Any]:
    client = stack.store.model._get_connection().connection.client
    return client.get_item(TableName=stack.store.table_name, Key={"job_id": {"S": job_id}})["Item"]


def put_raw(stack: Stack, item: dict[str, Any]) -> None:
    client = stack.store.model._get_connection().connection.client
    client.put_item(TableName=stack.store.table_name, Item=item)


def deliver(stack: Stack, job_id: str, epoch: int) -> list[dict[str, Any]]:
    stack.sim.send({"job_id": job_id, "epoch": epoch})
    stack.sim.drain()
    return stack.sim.results


def run_part_way(stack: Stack, job_id: str) -> None:
    """One hop that commits some progress, then stops (the next event is left undelivered)."""
    seed_job(stack, job_id, items=400)
    stack.sim.send({"job_id": job_id, "epoch": 1})
    stack.sim.deliver(stack.sim.queue.popleft())
    stack.sim.queue.clear()


def test_truncated_state_fails_the_job_once_with_a_clear_error(stack: Stack) -> None:
    run_part_way(stack, "truncated")
    item = raw_item(stack, "truncated")
    assert "state" in item, "the hop committed a state"
    item["state"] = {"B": zlib.compress(b'{"next": 3')[:-4]}
    put_raw(stack, item)
    job = stack.store.get("truncated")
    results = deliver(stack, "truncated", job.epoch)
    failed = stack.store.get("truncated")
    assert failed.status is JobStatus.FAILED
    assert failed.last_error and "StateCorrupt" in failed.last_error
    assert not stack.sim.errors, "no exception: Lambda must not retry a permanently bad state"
    assert results[-1]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("state_codec", {"S": "gzip+yaml"}),
        ("lease_expires_ms", {"S": "soon"}),
        ("counters", {"S": "not a map"}),
        ("status", {"S": "BOGUS"}),
        ("epoch", {"S": "1"}),
        ("hops", {"S": "many"}),
        ("max_hops", {"BOOL": True}),
        ("recent_hops", {"S": "[]"}),
        ("params", {"L": []}),
        ("state_ref", {"M": {"bucket": {"S": "b"}}}),
    ],
)
def test_a_mistyped_item_is_refused_without_a_retry_storm(
    stack: Stack, attribute: str, value: dict[str, Any]
) -> None:
    job_id = f"mistyped-{attribute.replace('_', '-')}"
    seed_job(stack, job_id)
    item = raw_item(stack, job_id)
    item[attribute] = value
    put_raw(stack, item)
    before = raw_item(stack, job_id)
    results = deliver(stack, job_id, 1)
    assert not stack.sim.errors, (
        f"the relay raised on a permanently bad item ({stack.sim.errors[0]!r}); Lambda retries "
        f"it and the watchdog re-sends it: a retry storm"
    )
    after = raw_item(stack, job_id)
    if after == before:
        assert results[-1]["outcome"] in ("discarded", "rejected"), results[-1]
        return
    status = after["status"]["S"]
    if status == "SUCCEEDED":
        # The bad attribute was one the job did not need, and its first commit rewrote it.
        assert after.get(attribute) != value and after["counters"]["M"]["items"]["N"] == "6"
    else:
        assert status == "FAILED" and after.get("last_error"), "FAILED, with a readable reason"


def test_a_state_removed_under_a_running_job_is_not_restarted_from_zero(stack: Stack) -> None:
    """Counters committed without the state they cover must not be added to again."""
    run_part_way(stack, "stateless")
    item = raw_item(stack, "stateless")
    assert int(item["counters"]["M"]["items"]["N"]) > 0
    del item["state"]
    put_raw(stack, item)
    job = stack.store.get("stateless")
    deliver(stack, "stateless", job.epoch)
    end = stack.store.get("stateless")
    print("stateless:", end.status, end.counters, end.last_error)
    if end.status is JobStatus.SUCCEEDED:
        assert end.counters["items"] == 400, f"counters {end.counters} for 400 items"
    else:
        assert end.status is JobStatus.FAILED and end.last_error
