"""Fuzz: a user's task that misbehaves gets a clear error and loses nothing.

Hypothesis draws a misbehaviour and where it strikes: a step that raises (on every attempt, or
once), ends the job (JobFailure), leaves non-JSON in the state (a set, bytes, NaN, a dict with a
non-string key...), loops forever inside one step, or grows the state without bound. The real
relay runs it in process on moto, with LambdaSim delivering events (every event twice), killing
a hop whose clock passes its deadline, and the real watchdog sweeping. For every draw:

- the job ends: SUCCEEDED with exact counters when a retry can get past the fault, else FAILED
  with an error that names the task, says what went wrong, and says how to go on;
- the last commit stands and nothing after it: the committed state and counters agree, and no
  tick at or past the fault was committed;
- the operator's way on works: once the task is fixed, `resume` finishes the job from the last
  commit with every tick counted exactly once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from baton.handler.launch import send_event
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.store.codec import StateCodec
from baton.store.records import Job, JobStatus
from tests.support.inprocess_stack import REGION, Stack, local_stack
from tests.support.lambda_sim import FUNCTION

USER_MODULE = '''
"""A user's task that misbehaves on request; FIXED lists the jobs whose bug was fixed."""
import decimal
import math

from baton.handler.api import JobFailure, StepContext, Task, register_task, whole_number

FIXED = set()
RAISED = set()
MODES = ("raise", "raise_once", "fail", "nonjson", "hang", "grow")
NON_JSON = {
    "set": lambda: {1, 2},
    "bytes": lambda: b"raw",
    "object": lambda: object(),
    "nan": lambda: math.nan,
    "inf": lambda: -math.inf,
    "int_key": lambda: {1: "one"},
    "nested_int_key": lambda: [{"ok": {2.5: "x"}}],
    "tuple_key": lambda: {("a", "b"): 1},
    "decimal": lambda: decimal.Decimal("1.5"),
    "complex": lambda: 1j,
    "cycle": lambda: _cycle(),
}


def _cycle():
    loop = [1]
    loop.append({"back": loop})
    return loop


@register_task
class Misfit(Task):
    name = "misfit-SUFFIX"
    progress_counter = "ticks"

    @classmethod
    def validate(cls, params, action_modules):
        return {
            "n": whole_number(params, "n", 10, 1, 10**6, "misfit "),
            "at": whole_number(params, "at", 0, 0, 10**6, "misfit "),
            "mode": str(params.get("mode", "raise")),
            "kind": str(params.get("kind", "set")),
        }

    def start(self):
        return {"i": 0, "blob": []}

    def step(self, state, ctx: StepContext) -> bool:
        i, mode = state["i"], self.params["mode"]
        broken = ctx.job_id not in FIXED
        if broken and i == self.params["at"]:
            if mode == "raise":
                raise ConnectionError(f"the paged API refused page {i}")
            if mode == "raise_once" and ctx.job_id not in RAISED:
                RAISED.add(ctx.job_id)
                raise ConnectionError(f"the paged API refused page {i} once")
            if mode == "fail":
                raise JobFailure(f"page {i} is malformed; no retry can fix it")
            if mode == "nonjson":
                state["seen"] = NON_JSON[self.params["kind"]]()
            if mode == "hang":
                while True:  # waits for something that never comes
                    self.resources.sleep(0.5)
        if broken and mode == "grow" and i >= self.params["at"]:
            state["blob"].append("x" * 10_000 + str(i))
        state["i"] = i + 1
        ctx.count("ticks")
        return state["i"] >= self.params["n"]
'''

KINDS = (
    "set",
    "bytes",
    "object",
    "nan",
    "inf",
    "int_key",
    "nested_int_key",
    "tuple_key",
    "decimal",
    "complex",
    "cycle",
)
STALL_MS = WatchdogSettings().stall_after_s * 1000 + 1


@pytest.fixture(scope="module")
def user_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    import importlib
    import sys

    folder = tmp_path_factory.mktemp("user-code")
    suffix = secrets.token_hex(4)
    name = f"misfit_tasks_{suffix}"
    (folder / f"{name}.py").write_text(USER_MODULE.replace("SUFFIX", suffix), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(name), name, f"misfit-{suffix}"
    finally:
        sys.path.remove(str(folder))


def run_to_rest(stack: Stack, job_id: str, dog: Watchdog) -> Job:
    """Deliver every event twice; when nothing is left, let the stall time pass and sweep, as the
    scheduled watchdog would, until the job ends (the watchdog gives up after its rearms)."""
    for _ in range(200):
        stack.sim.drain(duplicate=True)
        job = stack.job(job_id)
        if job.status.terminal:
            return job
        stack.clock.advance(STALL_MS)
        dog.sweep()
    raise AssertionError(f"{job_id} never came to rest: {stack.job(job_id)}")


def committed_ticks(stack: Stack, job: Job) -> int:
    """The committed state and counters agree: nothing counted that the state lacks."""
    if not job.has_state:
        assert job.counters.get("ticks", 0) == 0, job.counters
        return 0
    state = stack.store.load_state(job)
    assert state["i"] == job.counters.get("ticks", 0), (state["i"], job.counters)
    return int(state["i"])


EXPECTED = {
    "raise": "ConnectionError: the paged API refused page",
    "fail": "JobFailure: page",
    "nonjson": "StateNotJson: task state must be JSON",
    "hang": "the watchdog restarted it 3 times without progress",
    "grow": "StateTooLarge",
}


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(("raise", "raise_once", "fail", "nonjson", "hang", "grow")),
    at=st.integers(min_value=0, max_value=60),
    kind=st.sampled_from(KINDS),
    extra=st.integers(min_value=1, max_value=40),
)
@example(mode="raise", at=5, kind="set", extra=3)
@example(mode="raise_once", at=0, kind="set", extra=2)
@example(mode="fail", at=30, kind="set", extra=1)
@example(mode="nonjson", at=12, kind="int_key", extra=1)
@example(mode="nonjson", at=2, kind="cycle", extra=4)
@example(mode="hang", at=40, kind="set", extra=5)
@example(mode="grow", at=3, kind="set", extra=9)
def test_a_misbehaving_user_task_fails_clearly_and_loses_nothing(
    user_module: tuple[Any, str, str], mode: str, at: int, kind: str, extra: int
) -> None:
    module, name, task = user_module
    n = at + extra
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="spill")
        codec = StateCodec(s3, "spill", inline_limit=4_000, max_bytes=40_000)
        with local_stack(
            timeout_ms=1_500, task_modules=(name,), state_bucket="spill", codec=codec
        ) as stack:
            stack.sim.kill_at_deadline = True
            dog = Watchdog(stack.store, stack.runtime.lambda_client, FUNCTION, WatchdogSettings())
            job_id = f"fuzz-{secrets.token_hex(4)}"
            stack.start({"n": n, "at": at, "mode": mode, "kind": kind}, task=task, job_id=job_id)
            done = run_to_rest(stack, job_id, dog)
            ticks = committed_ticks(stack, done)

            grow_fits = mode == "grow" and extra <= 3  # 10 KB a tick from `at`: 40 KB is over
            if mode == "raise_once" or grow_fits:
                assert done.status is JobStatus.SUCCEEDED, done.last_error
                assert done.counters == {"ticks": n}, "exact, through a failed attempt"
                return
            assert done.status is JobStatus.FAILED, (mode, done.status)
            error = done.last_error or ""
            assert EXPECTED[mode] in error, error
            assert repr(task) in error, "the error names the task"
            assert f"baton resume {job_id}" in error, "and says how to go on"
            if mode != "grow":
                assert ticks <= at, "nothing at or past the fault was committed"

            # The user fixes the task; resume goes on from the last commit and ends exact.
            module.FIXED.add(job_id)
            send_event(stack.runtime.lambda_client, FUNCTION, stack.store.resume(job_id))
            fixed = run_to_rest(stack, job_id, dog)
            assert fixed.status is JobStatus.SUCCEEDED, fixed.last_error
            assert fixed.counters == {"ticks": n}, "every tick counted once, none lost"
