"""A fuzz of the CLI: every command's options (every task's for `baton start`), with values a
careless operator types, against moto in process. Each run exits 0, 1 or 2 (watch also its
documented 3, 4, 124) with at most one line on stderr, never a traceback, and a `baton start`
refused as a usage error leaves no job behind.

`up` and `demo` start the local stack when their arguments are good, so they are left to the
explicit tests of their refusals (tests/test_cli_mistakes.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.cli.main import app
from baton.cli.task_flags import task_flags
from baton.handler.tasks.framework.catalog import BUILTIN_TASKS
from tests.test_cli import aws, baton

__all__ = ["aws"]

SKIPPED = {"up", "demo"}
EXIT_CODES = {0, 1, 2}
WATCH_CODES = {0, 1, 2, 3, 4, 124}  # SUCCEEDED, FAILED, usage, CANCELLED, PAUSED, timeout
TASK_NAMES = [t.name for t in BUILTIN_TASKS]

SAMPLES = [
    *("", "0", "-1", "1", "3", "65", "1e309", "nan", "inf", "-inf", "2.5", "true", "null"),
    *("x", "b-1", "UPPER", "X.s0000", "a b", "k/025", "s3://inv/m.json", "s3://x", "--json"),
    *("{}", "[]", '{"a": NaN}', '{"bucket": "b-2"}', '{":n": 5}', '{":n": {"N": "5"}}'),
    *("count", "inventory", "duplicates", "os:system", "mod:fn", "skip", "fail", "csv"),
    *("prefixes", "ranges", "delimiter", "manifest", "QUEUED", "PAUSED", "on", "off"),
    *("k" * 2_048, "\u00e9\u00e8", "jsonl"),
]
VALUES = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**16).map(str),
)


def _commands() -> dict[str, list[Any]]:
    """Command path -> its click parameters, read from the app itself."""
    group = typer.main.get_command(app)
    found: dict[str, list[Any]] = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if name in SKIPPED:
            continue
        for sub, inner in getattr(command, "commands", {}).items():
            found[f"{name} {sub}"] = list(inner.params)
        if not hasattr(command, "commands"):
            found[name] = list(command.params)
    return found


COMMANDS = _commands()
_job_ids = itertools.count()


@st.composite
def _generic(draw: st.DrawFn, path: str) -> list[str]:
    argv = path.split()
    for param in COMMANDS[path]:
        if param.param_type_name == "argument":
            argv.append(draw(st.one_of(VALUES, st.sampled_from(["fz-known", "missing-job"]))))
        elif draw(st.booleans()):
            argv.append(param.opts[0])
            if not param.is_flag:
                argv.append(draw(VALUES))
    return argv


@st.composite
def _start(draw: st.DrawFn) -> tuple[list[str], str]:
    task = draw(st.sampled_from(TASK_NAMES))
    options, _ = task_flags(next(t for t in BUILTIN_TASKS if t.name == task).Params)
    argv = ["start", task]
    for option in draw(st.lists(st.sampled_from(options), max_size=6)):
        argv.append(option.opts[0])
        if not option.is_flag:
            argv.append(draw(VALUES))
    if draw(st.booleans()):
        argv += ["--params", draw(VALUES)]
    job_id = f"fz-{next(_job_ids)}"
    return [*argv, "--job-id", job_id], job_id


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_command_answers_bad_input_with_an_exit_code_and_one_line(
    aws: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: st.DataObject
) -> None:
    # A deploy the fuzz lets through builds its package in the current folder: not the repo's.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("baton.cli.commands.inspect.time.sleep", lambda s: None)
    monkeypatch.setattr("baton.cli.commands.control.time.sleep", lambda s: None)
    # A deploy the fuzz lets through runs against moto, whose stacks may stay in progress: it
    # must still end with one line, within seconds rather than CloudFormation's hour.
    monkeypatch.setattr("baton.infra.deploy.time.sleep", lambda s: None)
    monkeypatch.setattr("baton.infra.deploy.STACK_WAIT_S", 2.0)
    monkeypatch.setattr("baton.infra.deploy.CHANGE_SET_WAIT_S", 2.0)
    if baton("status", "fz-known").exit_code != 0:
        assert baton("init").exit_code == 0
        assert baton("start", "s3-walk", "--bucket", "b-1", "--job-id", "fz-known").exit_code == 0
    path = data.draw(st.sampled_from(["start", *sorted(p for p in COMMANDS if p != "start")]))
    job_id = None
    if path == "start":
        argv, job_id = data.draw(_start())
    else:
        argv = data.draw(_generic(path))
    if path == "watch":
        argv += ["--timeout", "0", "--interval", "0.01"]
    if path == "watchdog":
        argv.append("--once")
    result = baton(*argv)
    allowed = WATCH_CODES if path == "watch" else EXIT_CODES
    assert result.exit_code in allowed, (argv, result.output)
    assert "Traceback" not in result.output, (argv, result.output)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), (argv, repr(result.exception))
    if result.exit_code != 0:
        assert len(result.stderr.strip().splitlines()) <= 1, (argv, result.stderr)
    if job_id is not None and result.exit_code == 2:
        assert baton("status", job_id).exit_code == 1, (argv, "a refused start left its job")
