"""`baton up` and `baton demo`: baton on the embedded local stack, no AWS account needed."""

from __future__ import annotations

import importlib.util
import math
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from baton.cli.context import ctx_of
from baton.cli.output import EXIT_USAGE, console, fail, print_job
from baton.handler.api import is_bucket_name
from baton.handler.config import DEFAULT_FUNCTION
from baton.local.demo.bucket_walk import DemoOptions, run_demo
from baton.local.demo.input_tasks import INPUTS, InputDemoOptions, run_input_demo
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import DEFAULT_RETRY_SCALE, FunctionConfig
from baton.local.stack import DEMO_ACTIONS, LocalStack
from baton.store.constants import DEFAULT_TABLE

DEFAULT_DEMO_OBJECTS = 3_000
FaultOption = Annotated[
    str | None,
    typer.Option(metavar="RATE[:SEED]", help="Fault rate 0-1, optionally with a seed"),
]
# The workers' settings `baton local up` and `baton demo` both take (with their own defaults).
TimeoutOption = Annotated[float, typer.Option(help="Function timeout, seconds")]
MarginOption = Annotated[int, typer.Option(help="BATON_MIN_MARGIN_MS for the workers")]
CheckpointOption = Annotated[int, typer.Option(help="BATON_CHECKPOINT_S for the workers")]


def _faults(
    duplicate: str | None, kill: str | None, throttle: str | None, chaos: bool
) -> FaultConfig:
    defaults = {"duplicate": "0.2:1", "kill": "0.1:2", "throttle": "0.1:3"} if chaos else {}
    chosen = {"duplicate": duplicate, "kill": kill, "throttle": throttle}
    try:
        return FaultConfig(
            **{
                name: Fault.parse(value)
                for name, value in {**defaults, **{k: v for k, v in chosen.items() if v}}.items()
            }
        )
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def _function(**settings: Any) -> FunctionConfig:
    """The local function's settings, or exit 2 naming what is wrong (before anything starts)."""
    for name, value in settings.items():
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"--{name.replace('_', '-')} must be a finite number, got {value}", EXIT_USAGE)
    try:
        timeout_ms = int(settings.pop("timeout") * 1000)
        return FunctionConfig(timeout_ms=timeout_ms, **settings)
    except ValueError as exc:
        fail(f"{exc} (--timeout is in seconds)" if "timeout" in str(exc) else str(exc), EXIT_USAGE)


def _buckets(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if not is_bucket_name(n)]
    if bad:
        fail(
            f"--bucket {bad[0]!r} is not an S3 bucket name (3-63 characters: a-z 0-9 . -)",
            EXIT_USAGE,
        )
    return list(names)


def _need_moto() -> None:
    missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
    if missing:
        fail(
            f"the local stack needs moto's server ({', '.join(missing)} missing): "
            f"pip install 'moto[server]>=5.2.5,<6', or run `make demo`, which installs it",
        )


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _stop_requested() -> threading.Event:
    """An event Ctrl-C or SIGTERM sets. The foreground loop of `baton up` waits on it instead of
    taking KeyboardInterrupt wherever its thread happens to be: raised inside a lock the stack's
    shutdown then needs, it left `baton up` hanging on Ctrl-C (seen once on a loaded machine)."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _code_paths(paths: Sequence[Path]) -> list[Path]:
    for path in paths:
        if not path.is_dir():
            fail(f"--code-path {path} is not a folder", EXIT_USAGE)
    return list(paths)


def up(
    ctx: typer.Context,
    timeout: TimeoutOption = 10.0,
    min_margin_ms: MarginOption = 2_000,
    checkpoint_s: CheckpointOption = 2,
    retries: Annotated[int, typer.Option(help="MaximumRetryAttempts for async events (0-2)")] = 2,
    retry_scale: Annotated[
        float, typer.Option(help="Divide Lambda's retry delays (~1 and ~2 min) by this")
    ] = DEFAULT_RETRY_SCALE,
    concurrency: Annotated[
        int | None, typer.Option(help="Reserved concurrency (0 stops every async event)")
    ] = None,
    account_concurrency: Annotated[
        int, typer.Option(help="Most workers at once when nothing is reserved")
    ] = 4,
    bucket: Annotated[
        list[str] | None, typer.Option(help="Create this bucket (repeatable)")
    ] = None,
    action_module: Annotated[
        list[str] | None, typer.Option(help="Allow actions from this module (repeatable)")
    ] = None,
    task_module: Annotated[
        list[str] | None,
        typer.Option(help="Allow the tasks this module registers (repeatable)"),
    ] = None,
    code_path: Annotated[
        list[Path] | None,
        typer.Option(help="A folder of your code, added to the workers' PYTHONPATH (repeatable)"),
    ] = None,
    duplicate: FaultOption = None,
    kill: FaultOption = None,
    throttle: FaultOption = None,
    log_level: Annotated[str, typer.Option(help="POWERTOOLS_LOG_LEVEL of the workers")] = "INFO",
) -> None:
    """Run the local stack in the foreground and print the environment to export.

    In another terminal, paste the export lines, then use `baton start` and `baton status` as
    against AWS. Ctrl-C stops everything and removes every temporary file.
    """
    _need_moto()
    c = ctx_of(ctx)
    faults = _faults(duplicate, kill, throttle, chaos=False)
    function = _function(
        name=c.function or DEFAULT_FUNCTION,
        timeout=timeout,
        max_retry_attempts=retries,
        retry_scale=retry_scale,
        account_concurrency=account_concurrency,
        reserved_concurrency=concurrency,
    )
    buckets = _buckets(bucket or ())
    stop = _stop_requested()
    stack = LocalStack(
        function=function,
        faults=faults,
        table=c.table or DEFAULT_TABLE,
        buckets=buckets,
        min_margin_ms=min_margin_ms,
        checkpoint_s=checkpoint_s,
        action_modules=(DEMO_ACTIONS, *(action_module or ())),
        log_level=log_level,
        task_modules=task_module or (),
        code_paths=_code_paths(code_path or ()),
    )
    with stack:
        _print_exports(stack, timeout)
        _print_counters_until(stop, stack)
    console.print("# stopped; the local stack is gone", highlight=False)


def _print_exports(stack: LocalStack, timeout: float) -> None:
    """What `baton up` prints once the stack is up: the lines to export, where its files are."""
    service = stack.lambda_
    console.print("# baton local stack is up. In another terminal, run:", highlight=False)
    for line in stack.export_lines():
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"# function log:  {service.log_path}", highlight=False, soft_wrap=True)
    console.print(f"# dead letters:  {service.dead_letter_path}", highlight=False, soft_wrap=True)
    console.print(
        f"# function {stack.function.arn}, timeout {timeout:g} s, faults "
        f"{stack.faults.describe()}; Ctrl-C stops the stack",
        highlight=False,
        soft_wrap=True,
    )


def _print_counters_until(stop: threading.Event, stack: LocalStack) -> None:
    """The Lambda service's counters, each second they changed, until Ctrl-C or SIGTERM."""
    last: dict[str, int] = {}
    while not stop.wait(1.0):
        now = stack.lambda_.snapshot()
        if now != last:
            console.print(
                "# " + "  ".join(f"{k} {v}" for k, v in sorted(now.items())),
                highlight=False,
                soft_wrap=True,
            )
            last = now


def demo(
    objects: Annotated[
        int, typer.Option(help="How many objects to put in the bucket")
    ] = DEFAULT_DEMO_OBJECTS,
    size: Annotated[int, typer.Option(help="Average object size, bytes")] = 2_048,
    timeout: TimeoutOption = 2.0,
    min_margin_ms: MarginOption = 800,
    checkpoint_s: CheckpointOption = 1,
    action: Annotated[
        str, typer.Option(help="checksum (GET and hash each object) or count (listing only)")
    ] = "checksum",
    chaos: Annotated[
        bool, typer.Option(help="Duplicate, kill and throttle now and then (0.2/0.1/0.1)")
    ] = False,
    duplicate: FaultOption = None,
    kill: FaultOption = None,
    throttle: FaultOption = None,
    input: Annotated[
        str | None,
        typer.Option(help="Show an input task instead: manifest (S3 Inventory) or lines"),
    ] = None,
) -> None:
    """Run the main job on the local stack and check it: `make demo`.

    Fills a bucket, walks it with s3-walk under a short function timeout so the chain hops many
    times, shows progress live, prints the job and compares its counters with the bucket.
    """
    _need_moto()
    _function(timeout=timeout)
    if input is not None:
        _input_demo(input, objects, timeout, _faults(duplicate, kill, throttle, chaos))
    if objects < 1 or size < 0:
        fail("--objects must be at least 1 and --size at least 0", EXIT_USAGE)
    actions = {"checksum": f"{DEMO_ACTIONS}:checksum", "count": "count"}
    if action not in actions:
        fail(f"--action must be checksum or count, got {action!r}", EXIT_USAGE)
    options = DemoOptions(
        objects=objects,
        size=size,
        timeout_s=timeout,
        min_margin_ms=min_margin_ms,
        checkpoint_s=checkpoint_s,
        action=actions[action],
        faults=_faults(duplicate, kill, throttle, chaos),
    )
    _stop_on_sigterm()
    code = run_demo(options, console, print_job)
    raise typer.Exit(code)


def _input_demo(kind: str, objects: int, timeout: float, faults: FaultConfig) -> None:
    """`--input manifest` walks 30,000 inventory rows; `--input lines` reads 200,000 records
    (--objects overrides either count)."""
    if kind not in INPUTS:
        fail(f"--input must be one of {', '.join(INPUTS)}, got {kind!r}", EXIT_USAGE)
    default = 30_000 if kind == "manifest" else 200_000
    items = default if objects == DEFAULT_DEMO_OBJECTS else objects
    options = InputDemoOptions(kind=kind, items=items, timeout_s=max(timeout, 3.0), faults=faults)
    _stop_on_sigterm()
    raise typer.Exit(run_input_demo(options, console, print_job))


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(demo)
