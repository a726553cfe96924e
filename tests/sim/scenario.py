"""One schedule end to end: plan a job, run it under faults, let it recover, check everything.

    with mock_aws():
        env = Env.create()
        report = run_schedule(env, RandomChooser(7), Config())
        assert report.ok, report.describe()

Phases of a schedule:
1. chaos: faults of every kind strike for `fault_window_ms` of virtual time; operators pause,
   resume and cancel, and watchdog sweeps run, at chosen moments;
2. recovery: faults stop; the watchdog sweeps whenever nothing is in flight, until the job is
   SUCCEEDED, FAILED, CANCELLED or PAUSED (a bounded number of sweeps, else I5 fails);
3. resume: a FAILED or PAUSED job is resumed by the operator and must then end SUCCEEDED with
   exact counters, having continued from its last committed cursor (I6).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import boto3

from handler.app import lambda_handler
from handler.config import RelaySettings
from handler.launch import launch, prepare, send_event
from handler.observability import logger
from handler.runtime import CLIENT_CONFIG, Runtime, use_runtime
from handler.watchdog import Watchdog, WatchdogSettings
from store.codec import StateCodec
from store.model import JobModel, bind_job_model
from store.protocol import JobStore
from tests.sim import core
from tests.sim.checks import CountModel, Ledger, Violation, WalkModel, plain
from tests.sim.chooser import Chooser, sparse
from tests.sim.core import FUNCTION, Actor, Rates, Sim, SimClock, SimFaults
from tests.sim.planted import planted
from tests.sim.pool import SimPool
from tests.sim.tasks import SIM_TASK, ensure_registered

REGION = "us-east-1"
TABLE = "sim-jobs"
WALK_BUCKET = "sim-walk"
WALK_OBJECTS = 24
STATE_BUCKET = "sim-state"
ACTION_MODULE = "tests.sim.tasks"

_job_ids = itertools.count(1)


@dataclass
class Env:
    """What every schedule in a process shares: moto's table, a small bucket, hooked clients."""

    model: type[JobModel]
    s3: Any
    lambda_client: Any
    walk_sizes: dict[str, int]
    raw_s3: Any

    @classmethod
    def create(cls) -> Env:
        """Call inside `mock_aws()`."""
        model = bind_job_model(TABLE, REGION, None)
        JobStore(model).ensure_table()
        # The S3 client the relay really uses (standard retries), so lost answers are retried.
        s3 = boto3.client("s3", region_name=REGION, config=CLIENT_CONFIG)
        lambda_client = boto3.client("lambda", region_name=REGION)
        s3.create_bucket(Bucket=WALK_BUCKET)
        s3.create_bucket(Bucket=STATE_BUCKET)
        sizes: dict[str, int] = {}
        for i in range(WALK_OBJECTS):
            key = walk_key(i)
            sizes[key] = (i * 37) % 1_500
            s3.put_object(Bucket=WALK_BUCKET, Key=key, Body=b"x" * sizes[key])
        core.install_hooks(
            dynamodb=model._get_connection().connection.client,
            lambda_client=lambda_client,
            s3=s3,
        )
        ensure_registered()
        raw_s3 = boto3.client("s3", region_name=REGION)
        return cls(model, s3, lambda_client, sizes, raw_s3)


def walk_key(i: int) -> str:
    """Awkward keys: spaces, unicode, +, %, deep prefixes."""
    kinds = (
        f"plain/{i:05d}.txt",
        f"with space/file {i}.txt",
        f"unicode/ünï-{i}-日本.bin",
        f"plus+sign/{i}+a=b&c.txt",
        f"percent%20/{i}%2F%zz.txt",
        "/".join(f"d{j}" for j in range(8)) + f"/{i}",
    )
    return kinds[i % len(kinds)]


@dataclass(frozen=True)
class Config:
    """What a schedule may do; the chooser picks within these ranges."""

    task: str = SIM_TASK
    rates: Rates = field(default_factory=Rates)
    fault_window_ms: int = 600_000
    timeout_ms: tuple[int, int] = (2_000, 4_000)
    min_margin_ms: int = 300
    checkpoint_s: int = 1
    items: tuple[int, int] = (3, 32)
    max_hops: tuple[int, int] = (2, 12)
    max_attempts: tuple[int, int] = (1, 4)
    watchdog_period_ms: int = 300_000
    max_sweeps: int = 40
    store_cls: type[JobStore] = JobStore
    skip_resume_phase: bool = False
    # Share of schedules whose every state spills to S3 (inline limit 0).
    spill: float = 0.3
    inline_limit: int = 0
    bug: str | None = None
    grow: int = 0
    max_steps: int = 20_000
    step_ms: tuple[int, int] = (20, 250)
    slow_step_ms: tuple[int, int] = (400, 4_000)
    # s3-walk: objects in flight at once (drawn per schedule; 1 runs them inline, in order).
    concurrency: tuple[int, int] = (1, 8)

    def quiet(self) -> Config:
        return replace(self, rates=Rates.none())


@dataclass
class Report:
    config: Config
    tape: list[int]
    violations: list[Violation]
    stats: dict[str, int]
    trace: list[str]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.violations

    def _options(self) -> str:
        """The config fields that differ from the defaults, as replay() keyword arguments."""
        default = Config()
        changed = [
            f", {f.name}={getattr(self.config, f.name)!r}"
            for f in fields(Config)
            if getattr(self.config, f.name) != getattr(default, f.name)
        ]
        return "".join(changed)

    def describe(self, tail: int = 60) -> str:
        lines = [f"{len(self.violations)} violation(s):"]
        lines += [f"  {v}" for v in self.violations[:5]]
        lines.append(f"job: {self.summary}")
        lines.append(f"faults struck: {dict(sorted(self.stats.items()))}")
        lines.append(f"replay: tests.sim.scenario.replay({sparse(self.tape)!r}{self._options()})")
        marks = [i for i, t in enumerate(self.trace) if "VIOLATION" in t]
        end = min(len(self.trace), marks[0] + tail // 4) if marks else len(self.trace)
        start = max(0, end - tail)
        lines.append(f"trace (events {start}-{end} of {len(self.trace)}, virtual ms):")
        lines += [f"  {t}" for t in self.trace[start:end]]
        return "\n".join(lines)


def read_image(env: Env, job_id: str) -> dict[str, Any] | None:
    client = env.model._get_connection().connection.client
    item = client.get_item(TableName=TABLE, Key={"job_id": {"S": job_id}}, ConsistentRead=True).get(
        "Item"
    )
    return plain(item) if item else None


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Thousands of invocations: no log lines, no EMF documents, no empty-metrics warnings."""
    before = logger.log_level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(_Discard()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(before)


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def run_schedule(
    env: Env,
    chooser: Chooser,
    config: Config | None = None,
    *,
    handler: Callable[[Any, Any], Any] = lambda_handler,
) -> Report:
    config = config or Config()
    c = chooser
    timeout = c.between(*config.timeout_ms)
    sim = Sim(c, config.rates, timeout_ms=timeout, handler=handler)
    sim.faults_until = sim.start_ms + config.fault_window_ms
    sim.step_ms, sim.slow_step_ms = config.step_ms, config.slow_step_ms
    clock = SimClock(sim)
    spill = c.chance(config.spill)
    codec = (
        StateCodec(env.s3, STATE_BUCKET, inline_limit=config.inline_limit)
        if spill
        else StateCodec()
    )
    store = config.store_cls(
        env.model,
        clock,
        codec=codec,
        fault_hook=lambda point: sim.park("fault", point.split(":")[0]),
    )
    runtime = Runtime(
        settings=RelaySettings(
            min_margin_ms=config.min_margin_ms,
            checkpoint_s=config.checkpoint_s,
            action_modules=(ACTION_MODULE,),
        ),
        store=store,
        s3=env.s3,
        lambda_client=env.lambda_client,
        clock=clock,
        faults=SimFaults(sim),
        sleep=sim.sleep,
        pools=lambda workers: SimPool(sim, workers),
    )
    job_id = f"sim-{next(_job_ids)}"
    model: CountModel | WalkModel
    if config.task == SIM_TASK:
        params: dict[str, Any] = {"items": c.between(*config.items)}
        if config.grow:
            params["grow"] = config.grow
        model = CountModel(params["items"])
    else:
        params = {
            "bucket": WALK_BUCKET,
            "action": f"{ACTION_MODULE}:slow_record",
            "concurrency": c.between(*config.concurrency),
        }
        model = WalkModel(env.walk_sizes)
    in_order = params.get("concurrency", 1) == 1
    ledger = Ledger(sim, model, job_id, env.raw_s3, in_order=in_order)
    sim.on_commit = ledger.commit
    sim.on_s3_delete = ledger.deleted
    summary: dict[str, Any] = {"job_id": job_id, "timeout_ms": timeout, "spill": spill, **params}
    watchdog = Watchdog(store, env.lambda_client, FUNCTION, WatchdogSettings())
    sweeps = 0

    def operator(action: str, final: bool = False) -> Callable[[Actor], Any]:
        def act(actor: Actor) -> Any:
            if action == "pause":
                return store.request_pause(job_id).status.value
            if action == "cancel":
                return store.request_cancel(job_id).status.value
            if action == "watchdog":
                return [a.action for a in watchdog.sweep()]
            job = store.find(job_id)
            raise_hops = job is not None and (final or job.hops >= job.max_hops)
            resumed = store.resume(job_id, max_hops=job.hops + 100 if job and raise_hops else None)
            send_event(env.lambda_client, FUNCTION, resumed)
            return resumed.status.value

        return act

    def spawn_operator(action: str, final: bool = False) -> None:
        kind = "watchdog" if action == "watchdog" else "operator"
        sim.spawn(kind, f"{action}#{sim.steps}", operator(action, final), offset=sim.skew())

    def on_quiet() -> bool:
        nonlocal sweeps
        image = ledger.image
        if image is None or image.get("status") not in ("QUEUED", "RUNNING"):
            return False
        sweeps += 1
        if sweeps > config.max_sweeps:
            ledger.fail("I5", f"still {image.get('status')} after {config.max_sweeps} sweeps")
            return False
        sim.at(sim.now + config.watchdog_period_ms, "watchdog", lambda: spawn_operator("watchdog"))
        return True

    core.ACTIVE = sim
    use_runtime(runtime)
    try:
        with quiet_logs(), planted(config.bug):
            spec = prepare(
                config.task,
                params,
                action_modules=(ACTION_MODULE,),
                now_ms=clock.now_ms(),
                job_id=job_id,
                max_hops=c.between(*config.max_hops),
                max_attempts=c.between(*config.max_attempts),
            )
            launch(store, env.lambda_client, FUNCTION, spec)
            ledger.observe(read_image(env, job_id) or {})
            for action in ("pause", "resume", "cancel", "watchdog"):
                if sim.fault(config.rates.operator, f"op_{action}"):
                    when = sim.now + c.between(0, config.fault_window_ms)
                    sim.at(when, action, lambda a=action: spawn_operator(a))
            sim.run(on_quiet, max_steps=config.max_steps)
            image = ledger.image
            status = image.get("status") if image else None
            if status in ("FAILED", "PAUSED") and not config.skip_resume_phase:
                sim.stats[f"resumed_from_{status}"] += 1
                sim.faults_until = sim.now
                sim.log(f"resume phase: the job was {status}")
                sim.at(sim.now, "resume", lambda: spawn_operator("resume", final=True))
                sim.run(on_quiet, max_steps=config.max_steps)
                image = ledger.image
                if image is None or image.get("status") != "SUCCEEDED":
                    ended = image.get("status") if image else None
                    error = image.get("last_error") if image else None
                    ledger.fail("I6", f"resumed from {status}, the job ended {ended}: {error}")
            ledger.final(image, sim.finished)
    except (AssertionError, core.HarnessStuck) as exc:
        ledger.fail("harness", str(exc))
        image = None
    finally:
        sim.abort()
        core.ACTIVE = None
        use_runtime(None)
        with contextlib.suppress(Exception):
            env.model(job_id).delete()
    if image:
        summary.update(
            status=image.get("status"),
            epoch=image.get("epoch"),
            hops=image.get("hops"),
            max_hops=image.get("max_hops"),
            counters=image.get("counters"),
            last_error=(image.get("last_error") or "")[:160] or None,
        )
    summary.update(
        extra_work=sum(sim.processed.values()) - len(sim.processed),
        invocations=sum(1 for a in sim.finished if a.kind == "invocation"),
        commits=ledger.commits,
        decisions=len(c.tape),
        virtual_s=(sim.now - sim.start_ms) // 1000,
    )
    return Report(config, list(c.tape), ledger.violations, dict(sim.stats), sim.trace, summary)


def replay(decisions: dict[int, int], **overrides: Any) -> Report:
    """Run one schedule from its printed decisions, in a fresh moto (for a debugger)."""
    from moto import mock_aws

    from tests.sim.chooser import TapeChooser, dense

    with mock_aws():
        env = Env.create()
        return run_schedule(env, TapeChooser(dense(decisions)), Config(**overrides))
