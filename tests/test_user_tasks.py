"""A user's task, from a folder outside the repo, allowed by BATON_TASK_MODULES only; and what
baton does when such a task misbehaves (raises, keeps non-JSON state, grows without bound).

In process: moto, the real relay and LambdaSim; the worker-process run with kills is in
tests/test_local_tasks.py.
"""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from baton.cli.main import app
from baton.handler.launch import launch, prepare
from baton.handler.tasks.framework.catalog import get_task, known_tasks
from baton.store.codec import StateCodec
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support.inprocess_stack import REGION, Stack, local_stack
from tests.support.lambda_sim import FUNCTION
from tests.test_operator import operate

runner = CliRunner()

USER_MODULE = '''
"""A user's task module: only baton.handler.api is imported from baton."""
from baton.handler.api import InvalidJob, JobFailure, StepContext, Task, register_task, whole_number

MODES = ("ok", "raise", "fail", "nonjson", "grow", "raise_in_start")


@register_task
class Ticker(Task):
    name = "ticker-SUFFIX"
    progress_counter = "ticks"

    @classmethod
    def validate(cls, params, action_modules):
        mode = params.get("mode", "ok")
        if mode not in MODES:
            raise InvalidJob(f"ticker mode must be one of {', '.join(MODES)}, got {mode!r}")
        return {
            "n": whole_number(params, "n", 100, 1, 10**6, "ticker "),
            "at": whole_number(params, "at", 0, 0, 10**6, "ticker "),
            "mode": mode,
        }

    def start(self):
        if self.params["mode"] == "raise_in_start":
            raise ConnectionError("the paged API is down")
        return {"i": 0, "blob": []}

    def step(self, state, ctx: StepContext) -> bool:
        mode, at = self.params["mode"], self.params["at"]
        if state["i"] == at and mode == "raise":
            raise ValueError(f"boom at {at}")
        if state["i"] == at and mode == "fail":
            raise JobFailure(f"page {at} is malformed; no retry can fix it")
        if state["i"] == at and mode == "nonjson":
            state["seen"] = {1, 2}
        if mode == "grow":
            state["blob"].append("x" * 4000 + str(state["i"]))
        state["i"] += 1
        ctx.count("ticks")
        return state["i"] >= self.params["n"]

    def summary(self, state):
        return {"last": state["i"]}
'''


def write_module(folder: Path) -> tuple[str, str]:
    """A fresh user module (its own name, its own task name) in `folder`; (module, task)."""
    suffix = secrets.token_hex(4)
    module = f"user_tasks_{suffix}"
    (folder / f"{module}.py").write_text(USER_MODULE.replace("SUFFIX", suffix), encoding="utf-8")
    return module, f"ticker-{suffix}"


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.syspath_prepend(str(tmp_path))
    return write_module(tmp_path)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def run(stack: Stack, task: str, job_id: str, **params: Any) -> Any:
    stack.start(params, task=task, job_id=job_id)
    stack.sim.drain()
    return stack.job(job_id)


def consistent(stack: Stack, job: Any) -> int:
    """The committed state and counters agree: nothing counted that the state lacks."""
    state = stack.store.load_state(job)
    assert state["i"] == job.counters.get("ticks", 0), (state["i"], job.counters)
    return int(state["i"])


def test_a_listed_user_task_runs_over_many_hops_with_exact_counters(
    aws: None, user_code: tuple[str, str]
) -> None:
    module, task = user_code
    with local_stack(timeout_ms=1_500, task_modules=(module,)) as stack:
        job = run(stack, task, "mine", n=500)
        assert job.status is JobStatus.SUCCEEDED, job.last_error
        assert job.hops >= 5
        assert job.counters == {"ticks": 500}
        assert job.summary == {"last": 500}
        assert task in known_tasks((module,))


def test_a_task_whose_module_is_not_listed_is_refused_at_start(
    aws: None, user_code: tuple[str, str]
) -> None:
    module, task = user_code
    with pytest.raises(InvalidJob, match=f"unknown task '{task}'.*BATON_TASK_MODULES"):
        get_task(task, ("json",))
    get_task(task, (module,))  # now imported: its name is known, and still not allowed unlisted
    with pytest.raises(InvalidJob, match=f"comes from module '{module}'.*does not list"):
        get_task(task, ())
    with pytest.raises(InvalidJob, match="cannot be imported: ModuleNotFoundError"):
        get_task(task, ("no_such_user_module",))


def test_the_worker_refuses_a_task_its_own_listing_lacks(
    aws: None, user_code: tuple[str, str]
) -> None:
    """The operator's machine listed the module; the deployment does not: the job fails with the
    reason and runs none of the code."""
    module, task = user_code
    with local_stack(timeout_ms=1_500, task_modules=()) as stack:
        spec = prepare(
            task, {"n": 5}, action_modules=(), task_modules=(module,), now_ms=0, job_id="stray"
        )
        launch(stack.store, stack.runtime.lambda_client, FUNCTION, spec)
        stack.sim.drain()
        job = stack.job("stray")
    assert job.status is JobStatus.FAILED
    assert f"comes from module '{module}', which BATON_TASK_MODULES does not list" in (
        job.last_error or ""
    )
    assert job.counters == {}


@pytest.mark.parametrize(
    ("mode", "error", "retried"),
    [
        ("raise", "ValueError: boom at 120", True),
        ("fail", "JobFailure: page 120 is malformed", False),
        ("nonjson", "StateNotJson: task state must be JSON", False),
        ("raise_in_start", "ConnectionError: the paged API is down", True),
    ],
)
def test_a_misbehaving_task_fails_with_a_clear_error_and_loses_nothing(
    aws: None, user_code: tuple[str, str], mode: str, error: str, retried: bool
) -> None:
    module, task = user_code
    with local_stack(timeout_ms=1_500, task_modules=(module,)) as stack:
        job = run(stack, task, f"bad-{mode}", n=500, at=120, mode=mode)
        assert job.status is JobStatus.FAILED
        assert error in (job.last_error or ""), job.last_error
        # An exception is an attempt (retried); JobFailure and a bad state are not.
        assert (job.attempts > 0) is retried, job.attempts
        if mode != "raise_in_start":
            # The last commit stands: state and counters agree, and nothing past the fault.
            assert 0 < consistent(stack, job) <= 120


def test_a_state_growing_without_bound_stops_with_the_limit_named(
    aws: None, user_code: tuple[str, str]
) -> None:
    module, task = user_code
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="spill")
    codec = StateCodec(s3, "spill", inline_limit=8_000, max_bytes=400_000)
    with local_stack(
        timeout_ms=1_500, task_modules=(module,), state_bucket="spill", codec=codec
    ) as stack:
        job = run(stack, task, "grow", n=10_000, mode="grow")
        assert job.status is JobStatus.FAILED
        assert "StateTooLarge" in (job.last_error or "")
        assert "over the 400,000-byte limit" in (job.last_error or "")
        ticks = consistent(stack, job)
        assert 0 < ticks <= 100, "the job stopped at the commit that would pass the cap"


def test_the_cli_validates_a_user_task_with_the_users_own_code(
    aws: None, user_code: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, task = user_code
    with local_stack(timeout_ms=1_500, task_modules=(module,)) as stack:
        operate(stack, monkeypatch)
        bad = runner.invoke(app, ["start", task, "--params", '{"mode": "sideways"}'])
        assert bad.exit_code != 0
        assert "ticker mode must be one of" in bad.output
        ok = runner.invoke(app, ["start", task, "--params", '{"n": 40}', "--job-id", "cli"])
        assert ok.exit_code == 0, ok.output
        stack.sim.drain()
        assert stack.job("cli").counters == {"ticks": 40}
        status = runner.invoke(app, ["status", "cli", "--json"])
        assert json.loads(status.output)["progress_counter"] == "ticks"


def test_the_cli_refuses_a_task_from_an_unlisted_module(
    aws: None, user_code: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _module, task = user_code
    with local_stack(timeout_ms=1_500, task_modules=()) as stack:
        operate(stack, monkeypatch)
        result = runner.invoke(app, ["start", task, "--params", '{"n": 4}'])
        assert result.exit_code != 0
        assert "BATON_TASK_MODULES" in result.output
        assert stack.sim.invokes == [], "nothing was started"


def test_the_example_in_the_api_docstring_is_valid_code() -> None:
    import baton.handler.api

    doc = baton.handler.api.__doc__ or ""
    example = textwrap.dedent(doc.split("\n\n", 2)[2].split("\n\nThe rules")[0])
    compile(example, "example", "exec")
