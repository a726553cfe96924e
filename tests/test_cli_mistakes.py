"""A careless operator's mistakes at the CLI get a fast, one-line answer, exit 2 for bad
arguments, and leave nothing behind (no job stored, no event sent)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from baton.cli import aws_problems
from baton.cli.context import CliContext
from baton.handler.observability import logger
from tests.test_cli import REGION, aws, baton

__all__ = ["aws"]


def refused(result: Any, *words: str) -> None:
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def no_job(job_id: str, invokes: list[Any]) -> None:
    assert baton("status", job_id).exit_code == 1
    assert invokes == []


# ---------------------------------------------------------------------- parameters


def test_an_empty_range_boundary_is_refused_before_two_shards_walk_the_same_keys(
    aws: list[Any],
) -> None:
    baton("init")
    result = baton(
        "start", "s3-fanout", "--bucket", "b-1", "--split", "ranges",
        "--boundary", "", "--boundary", "k/025", "--job-id", "twice",
    )  # fmt: skip
    refused(result, "boundaries must not be empty")
    no_job("twice", aws)


@pytest.mark.parametrize(
    "boundaries", [["k/5", "k/1"], ["k/1", "k/1"]], ids=["unsorted", "duplicate"]
)
def test_unsorted_or_repeated_boundaries_are_refused(aws: list[Any], boundaries: list[str]) -> None:
    baton("init")
    args = [a for b in boundaries for a in ("--boundary", b)]
    result = baton("start", "s3-fanout", "--bucket", "b-1", "--split", "ranges", *args)
    refused(result, "distinct and in ascending order")


def test_params_that_contradict_a_flag_are_refused_naming_both(aws: list[Any]) -> None:
    baton("init")
    result = baton(
        "start", "s3-walk", "--bucket", "qa-data", "--params", '{"bucket": "other-bucket"}',
        "--job-id", "which",
    )  # fmt: skip
    refused(result, "--bucket", "--params", "qa-data", "other-bucket")
    no_job("which", aws)
    same = baton(
        "start", "s3-walk", "--bucket", "qa-data", "--params", '{"bucket": "qa-data"}', "--json"
    )
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["params"]["bucket"] == "qa-data"


@pytest.mark.parametrize(
    ("split", "option", "names"),
    [
        ([], ["--boundary", "k"], "--boundary"),
        (["--split", "ranges", "--boundary", "k"], ["--shards", "4"], "--shards"),
        (["--split", "prefixes", "--shard-prefix", "a/"], ["--boundary", "k"], "--boundary"),
        (["--split", "ranges", "--boundary", "k"], ["--depth", "2"], "--depth"),
    ],
)
def test_an_option_meant_for_another_split_is_refused(
    aws: list[Any], split: list[str], option: list[str], names: str
) -> None:
    baton("init")
    result = baton("start", "s3-fanout", "--bucket", "b-1", *split, *option, "--job-id", "mix")
    refused(result, names, "does not take")
    no_job("mix", aws)


@pytest.mark.parametrize("flag", ["--action-params", "--params"])
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_is_refused_at_the_flag(aws: list[Any], flag: str, constant: str) -> None:
    baton("init")
    text = f'{{"x": {constant}}}'
    result = baton("start", "s3-walk", "--bucket", "b-1", flag, text, "--job-id", "nan")
    refused(result, flag, "NaN or Infinity")
    no_job("nan", aws)


@pytest.mark.parametrize(
    "args",
    [
        ["s3-fanout", "--bucket", "b-1", "--split", "ranges", "--boundary", "k" * 2_048],
        ["s3-fanout", "--bucket", "b-1", "--split", "prefixes", "--shard-prefix", "p" * 2_048],
    ],
    ids=["boundary", "shard-prefix"],
)
def test_a_key_longer_than_s3_allows_is_refused_at_start(aws: list[Any], args: list[str]) -> None:
    baton("init")
    refused(baton("start", *args, "--job-id", "long"), "at most 1,024 bytes")
    no_job("long", aws)


def test_untyped_filter_values_are_refused_at_start(aws: list[Any]) -> None:
    baton("init")
    result = baton(
        "start", "dynamodb-scan", "--source-table", "orders", "--filter", "n > :n",
        "--filter-values", '{":n": 5}', "--job-id", "untyped",
    )  # fmt: skip
    refused(result, "filter_values must be typed attribute values", '"N"')
    no_job("untyped", aws)


def test_a_job_id_shaped_like_a_shard_id_is_refused(aws: list[Any]) -> None:
    baton("init")
    refused(baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "X.s0000"), "shard")
    no_job("X.s0000", aws)


# ---------------------------------------------------------------------- help


def test_start_help_lists_the_tasks_parameters(aws: list[Any]) -> None:
    shown = baton("start", "s3-walk", "--help")
    assert shown.exit_code == 0, shown.output
    for flag in ("--bucket", "--prefix", "--start-after", "--end-before", "--concurrency"):
        assert flag in shown.stdout
    assert "Bucket to walk" in shown.stdout and "[required]" in shown.stdout
    fanout = baton("start", "s3-fanout", "--help").stdout
    assert "--boundary" in fanout and "--shard-prefix" in fanout and "--poll-s" in fanout


USER_TASK = """
from pydantic import Field
from baton.handler.api import Task, TaskParams, register_task

@register_task
class Blink(Task):
    name = "blink"

    class Params(TaskParams):
        times: int = Field(3, ge=1, le=9, description="How often to blink")
        colour: str = Field(description="The colour of the light")

    def start(self):
        return {"left": self.params["times"]}

    def step(self, state, ctx):
        state["left"] -= 1
        return state["left"] <= 0
"""


@pytest.fixture
def user_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    (tmp_path / "blink_task.py").write_text(USER_TASK, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield {"BATON_TASK_MODULES": "blink_task"}
    from baton.handler.tasks.framework.registry import ORIGIN, TASKS

    TASKS.pop("blink", None)
    ORIGIN.pop("blink", None)
    sys.modules.pop("blink_task", None)


def test_a_user_tasks_help_and_validation_come_from_its_model(
    aws: list[Any], user_task: dict[str, str]
) -> None:
    shown = baton("start", "blink", "--help", env=user_task)
    assert shown.exit_code == 0, shown.output
    assert "--times" in shown.stdout and "How often to blink" in shown.stdout
    assert "--colour" in shown.stdout and "[required]" in shown.stdout
    baton("init")
    refused(baton("start", "blink", "--times", "12", env=user_task), "from 1 to 9, got 12")
    refused(baton("start", "blink", env=user_task), "blink needs colour")
    started = baton("start", "blink", "--colour", "red", "--json", env=user_task)
    assert started.exit_code == 0, started.output
    assert json.loads(started.stdout)["params"] == {"times": 3, "colour": "red"}


# ---------------------------------------------------------------------- the world around


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """An endpoint that takes connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    taken: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                taken.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", taken
    stop.set()
    thread.join()
    for conn in taken:
        conn.close()
    server.close()


def test_an_endpoint_that_never_answers_is_named_with_its_variable(
    silent_endpoint: tuple[str, list[socket.socket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, taken = silent_endpoint
    monkeypatch.setattr(aws_problems, "READ_TIMEOUT_S", 1)
    monkeypatch.setattr(aws_problems, "CONNECT_TIMEOUT_S", 1)
    result = baton("status", "job-1", env={"AWS_ENDPOINT_URL_DYNAMODB": url})
    assert result.exit_code == 1, result.output
    assert url in result.stderr and "AWS_ENDPOINT_URL_DYNAMODB" in result.stderr
    assert "did not answer" in result.stderr and "Traceback" not in result.output
    # The retry budget, not botocore's default (four tries of 60 s for a pynamodb read).
    assert len(taken) == aws_problems.ATTEMPTS


@pytest.fixture
def not_aws_endpoint() -> Iterator[str]:
    """An endpoint that answers every request 200 with a web page: a proxy's or a captive
    portal's, not the service's format."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>Sign in to continue & <b>browse</body>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_doctor_against_an_endpoint_answering_with_a_web_page_reports_it(
    not_aws_endpoint: str,
) -> None:
    """botocore's answer parser raises an error that is not a BotoCoreError: doctor reports it
    as the account it could not read, with the page's start, instead of a traceback."""
    result = baton("doctor", "--stack-name", "baton", env={"AWS_ENDPOINT_URL": not_aws_endpoint})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    out = " ".join(result.stdout.split())
    assert "cannot read the account" in out and "Sign in to continue" in out
    assert "check AWS_ENDPOINT_URL" in out


def test_every_cli_client_has_short_timeouts_and_a_bounded_retry_budget() -> None:
    context = CliContext(table="cli-jobs")  # builds clients only: no call is sent
    config = context.lambda_client.meta.config
    assert config.read_timeout == aws_problems.READ_TIMEOUT_S
    assert config.connect_timeout == aws_problems.CONNECT_TIMEOUT_S
    assert config.retries["total_max_attempts"] == aws_problems.ATTEMPTS
    assert context.s3.meta.config.read_timeout == aws_problems.READ_TIMEOUT_S
    meta = context.store.model.Meta
    assert meta.read_timeout_seconds == aws_problems.READ_TIMEOUT_S
    assert meta.max_retry_attempts == aws_problems.ATTEMPTS - 1


def test_start_against_a_missing_table_says_so_plainly(aws: list[Any]) -> None:
    result = baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "nowhere")
    assert result.exit_code == 1, result.output
    assert "jobs table 'cli-jobs' does not exist" in result.stderr or (
        "jobs table does not exist" in result.stderr
    ), result.stderr
    assert "baton init" in result.stderr and "unknown outcome" not in result.stderr
    assert aws == []


def test_start_without_credentials_says_so_plainly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No moto: without credentials botocore refuses to sign, so no request leaves the process.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Should a signed request leave anyway, it goes to a closed local port, never to AWS; a table
    # name of its own, so no model bound (and its client cached) by an earlier test is reused.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = baton(
        "--table", "no-credentials", "start", "s3-walk", "--bucket", "b-1", "--job-id", "anon"
    )
    assert result.exit_code == 1, result.output
    assert "no AWS credentials" in result.stderr and "unknown outcome" not in result.stderr


def test_status_of_an_empty_job_id_is_a_usage_error(aws: list[Any]) -> None:
    baton("init")
    result = baton("status", "")
    refused(result, "job id")
    assert "ValidationException" not in result.output


def test_a_bad_table_flag_is_reported_as_the_flag(aws: list[Any]) -> None:
    result = baton("--table", "x", "status", "j")
    refused(result, "--table")
    assert "BATON_TABLE" not in result.stderr


def test_an_unwritable_report_path_is_a_usage_error(aws: list[Any], tmp_path: Path) -> None:
    from baton.store.records import Ending, HopEnd, Progress
    from baton.store.reports import ReportStore

    env = {"BATON_STATE_BUCKET": "my-state"}
    baton("init", env=env)
    baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "done", env=env)
    store = CliContext(table="cli-jobs").store
    claim = store.claim("done", 1, "worker", store.clock.now_ms() + 60_000)
    ref = ReportStore(boto3.client("s3", region_name=REGION), "my-state").write(
        "done", 1, [{"type": "job"}]
    )
    claim.finish(Progress({}, {}), HopEnd(1, "finished"), Ending({}, ref))  # type: ignore[arg-type]
    result = baton("report", "done", "-o", str(tmp_path / "no-such-dir" / "r.jsonl"), env=env)
    refused(result, "--output", "cannot write")


def test_up_with_an_invalid_bucket_name_is_refused_before_anything_starts() -> None:
    refused(baton("up", "--bucket", "Not_A_Bucket"), "--bucket", "Not_A_Bucket")


@pytest.mark.parametrize("timeout", ["0", "nan", "-1"])
def test_demo_with_a_timeout_out_of_range_is_refused(timeout: str) -> None:
    refused(baton("demo", "--timeout", timeout), "timeout")


class _ProcessStdout:
    """Where a real process's stdout goes: whatever sys.stdout is at the time of the write (the
    runner's capture while a command runs), as the logger's handler writes in a real `baton`."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def test_watchdog_json_keeps_stdout_for_json_alone(
    aws: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = logger.registered_handler
    monkeypatch.setattr(handler, "stream", _ProcessStdout())
    baton("init")
    # A function the watchdog cannot read the concurrency of: the sweep logs a warning.
    result = baton("watchdog", "--once", "--json", env={"BATON_FUNCTION": "not-deployed"})
    assert result.exit_code == 0, result.output
    assert "cannot read the reserved concurrency" in result.stderr
    assert json.loads(result.stdout) == {"actions": []}


def test_watch_and_init_take_json(aws: list[Any]) -> None:
    made = baton("init", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["table"] == "cli-jobs"
    baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "w")
    baton("cancel", "w")
    watched = baton("watch", "w", "--json")
    assert watched.exit_code == 3, watched.output
    assert json.loads(watched.stdout)["status"] == "CANCELLED"


def test_watch_of_a_paused_job_returns(aws: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    baton("init")
    baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "p")
    store = CliContext(table="cli-jobs").store
    store.model("p").update(actions=[store.model.status.set("PAUSED")])

    def never(_: float) -> None:  # the old watch polled a PAUSED job for ever
        raise AssertionError("watch kept polling a PAUSED job")

    monkeypatch.setattr("baton.cli.commands.inspect.time.sleep", never)
    watched = baton("watch", "p")
    assert watched.exit_code == 4, watched.output
    assert "baton resume p" in watched.output
