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

With `Config(task="s3-fanout")` the job is the real fan-out parent over a bucket of its own:
it plans shards and starts them (s3-walk child jobs) through the shared shard machinery, and
every job, parent and shards, runs under the same scheduler and faults. Operators act on the
parent as the CLI does (the request, then the cascade to every shard the parent's state names).

With `Config(action="count")` (`COUNT`, `COUNT_FANOUT`) the walks run the built-in `count`,
which takes a whole listed page per step, over a bucket of neighbouring prefixes, with key
limits drawn per schedule (tests/sim/count_walk.py says how its work is checked).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import boto3

from baton.handler.app import lambda_handler
from baton.handler.children import cascade, planned_shards
from baton.handler.config import RelaySettings
from baton.handler.launch import launch, prepare, send_event
from baton.handler.observability import logger
from baton.handler.runtime import CLIENT_CONFIG, Runtime, use_runtime
from baton.handler.watchdog import WatchdogSettings
from baton.store.codec import StateCodec
from baton.store.constants import LEASE_TERM_MS
from baton.store.job_store import JobStore
from baton.store.model import JobModel, bind_job_model
from tests.sim import core
from tests.sim.checks import CountModel, FanOutLedgers, Ledger, Violation, WalkModel, plain
from tests.sim.chooser import Chooser, sparse
from tests.sim.core import FUNCTION, OPERATOR_ACTIONS, Actor, Rates, Sim, SimClock, SimFaults
from tests.sim.count_walk import COUNT_BUCKET, draw_limits, fill_bucket, scaled_pages
from tests.sim.planted import planted, store_class, watchdog_class
from tests.sim.pool import SimPool
from tests.sim.tasks import SIM_TASK, ensure_registered

REGION = "us-east-1"
TABLE = "sim-jobs"
WALK_BUCKET = "sim-walk"
WALK_OBJECTS = 24
STATE_BUCKET = "sim-state"
FAN_BUCKET = "sim-fan"
FAN_TASK = "s3-fanout"
# The fan-out bucket: objects under FAN_PREFIXES top-level prefixes and a few beside them, so
# the delimiter split plans one shard per prefix and the ranges between cover the rest.
FAN_PREFIXES = 5
FAN_PER_PREFIX = 8
AT_LAUNCH_MS = (0, 3_000)
# The timer of the deployed watchdog's schedule (`Config.watchdog_every_ms`).
SCHEDULED_WATCHDOG = "scheduled watchdog"
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
    fan_sizes: dict[str, int] = field(default_factory=dict)
    # The count bucket (tests/sim/count_walk.py), made by the first schedule that counts.
    count_sizes: dict[str, int] = field(default_factory=dict)

    def count_bucket(self) -> dict[str, int]:
        """The count bucket's sizes by key, creating the bucket on first use."""
        if not self.count_sizes:
            self.count_sizes = fill_bucket(self.s3)
        return self.count_sizes

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
        s3.create_bucket(Bucket=FAN_BUCKET)
        fan: dict[str, int] = {}
        for i, key in enumerate(fan_keys()):
            fan[key] = (i * 53) % 900
            s3.put_object(Bucket=FAN_BUCKET, Key=key, Body=b"y" * fan[key])
        return cls(model, s3, lambda_client, sizes, raw_s3, fan)


def fan_keys() -> list[str]:
    """Keys under a few prefixes (one with a space, one with unicode) and some beside them."""
    heads = ("alpha/", "b space/", "ünï/", "delta/", "zeta/")[:FAN_PREFIXES]
    keys = [f"{h}{i:03d}.bin" for h in heads for i in range(FAN_PER_PREFIX)]
    return [*keys, "0-top.txt", "c-between.txt", "zz-last.txt"]


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
    # The store's lease term (BATON_LEASE_MS). The production term is longer than these
    # timeouts (the lease runs to the deadline); a term shorter than a hop makes hops renew it
    # at commits, and a slow step outlast it: another invocation may then take a live holder's
    # lapsed lease over, and the fence must keep that holder from committing.
    lease_ms: int = LEASE_TERM_MS
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
    # Operators act within this much of the start (None: anywhere in the fault window).
    operator_window_ms: int | None = None
    # The deployed watchdog runs on a schedule: sweep this often while a job is unfinished
    # (None: only the one chosen sweep, and whenever nothing is in flight). A fan-out needs it:
    # the parent's polling keeps something in flight while a shard's lost event waits.
    watchdog_every_ms: int | None = None
    # s3-fanout: shards running at once, and how often the parent reads them.
    max_concurrency: tuple[int, int] = (1, 3)
    poll_s: int = 1
    # s3-fanout: the chance, at each shard's creation, that an operator cancels or pauses the
    # parent within AT_LAUNCH_MS of it (once per schedule): the moment a cancel can race a launch.
    operator_at_launch: float = 0.0
    at_launch: tuple[str, ...] = ("cancel", "pause")
    # Hops the final resume adds (a fan-out parent polls through its shards' waits: more).
    resume_hops: int = 100
    # The walks' action: the simulator's `slow_record`, or the built-in `count` (which walks
    # the count bucket: tests/sim/count_walk.py).
    action: str = "slow_record"
    # s3-walk: draw a prefix, start_after or shard range per schedule (count_walk.draw_limits),
    # or give them (pairs of a parameter and its key).
    key_limits: bool = False
    limits: tuple[tuple[str, str], ...] = ()
    # s3-walk's page constants scaled to at most this many keys (None: the product's own).
    page_keys: int | None = None
    # Virtual time a listing costs per key it returns.
    list_ms_per_key: int = 0

    def quiet(self) -> Config:
        return replace(self, rates=Rates.none())


# The fan-out schedules: the real s3-fanout parent and its s3-walk shards, with the production
# poll and checkpoint intervals (two polls per checkpoint), hops long enough that the parent's
# polling through its shards' waits stays cheap, and an operator at a shard's launch in a third.
FANOUT = Config(
    task=FAN_TASK,
    timeout_ms=(10_000, 30_000),
    max_hops=(300, 600),
    checkpoint_s=10,
    poll_s=5,
    operator_window_ms=30_000,
    operator_at_launch=0.3,
    resume_hops=1_000,
    watchdog_every_ms=60_000,
)


# Count schedules: `count` one page per step, over the count bucket and drawn key limits, pages
# of at most a dozen keys that cost 40 ms a key to list, so a hop of 2-4 s holds a few pages.
COUNT = Config(
    task="s3-walk",
    action="count",
    concurrency=(1, 1),
    key_limits=True,
    page_keys=12,
    list_ms_per_key=80,
)
# The fan-out of count shards over the count bucket (its delimiter split cuts between `data`,
# `data-backup/` and `data/`).
COUNT_FANOUT = replace(FANOUT, action="count", concurrency=(1, 1), page_keys=12, list_ms_per_key=80)


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
    sim.list_ms_per_key = config.list_ms_per_key
    sim.listing_is_work = config.action == "count"
    clock = SimClock(sim)
    spill = c.chance(config.spill)
    store, runtime = _store_and_runtime(env, config, sim, clock, spill)
    job_id = f"sim-{next(_job_ids)}"
    fan = config.task == FAN_TASK
    params, model = _task_params(env, config, c)
    in_order = params.get("concurrency", 1) == 1
    family, ledger = _ledgers(env, config, sim, job_id, model, in_order, _fan_sizes(env, config))
    summary: dict[str, Any] = {"job_id": job_id, "timeout_ms": timeout, "spill": spill, **params}
    watchdog = watchdog_class(config.bug)(store, env.lambda_client, FUNCTION, WatchdogSettings())
    sweeps = 0

    def shards(job: Any, operation: str) -> Any:
        """What `baton cancel|pause|resume PARENT` does after the parent: every shard named."""
        if not fan:
            return None
        return cascade(store, env.lambda_client, FUNCTION, planned_shards(store, job), operation)

    def operator(action: str, final: bool = False) -> Callable[[Actor], Any]:
        def act(actor: Actor) -> Any:
            if action == "watchdog":
                return [a.action for a in watchdog.sweep()]
            return _operator_acts(env, store, config, job_id, action, final, shards)

        return act

    def passed_on(actor: Actor) -> None:
        if family is not None and actor.crashed is None and actor.error is None:
            family.cascaded_at[actor.label.split("#")[0]] = sim.now

    def spawn_operator(action: str, final: bool = False) -> None:
        kind = "watchdog" if action == "watchdog" else "operator"
        done = passed_on if action in ("pause", "cancel") else None
        sim.spawn(
            kind, f"{action}#{sim.steps}", operator(action, final), offset=sim.skew(), on_done=done
        )

    at_launch: list[str] = []

    def created(writer: Actor | None, item: dict[str, Any]) -> None:
        assert family is not None
        family.created(writer, item)
        if at_launch or not sim.fault(config.operator_at_launch, "op_at_launch"):
            return
        at_launch.append(config.at_launch[c.below(len(config.at_launch))])
        when = sim.now + c.between(*AT_LAUNCH_MS)
        sim.at(when, at_launch[0], lambda: spawn_operator(at_launch[0]))

    if family is not None:
        sim.on_create = created

    def periodic_watchdog() -> None:
        """The deployed watchdog's schedule: a sweep every period while a job is unfinished."""
        if unfinished() is None:
            return
        spawn_operator("watchdog")
        assert config.watchdog_every_ms
        sim.at(sim.now + config.watchdog_every_ms, SCHEDULED_WATCHDOG, periodic_watchdog)

    def unfinished() -> dict[str, Any] | None:
        images = [ledger.image] + ([c.image for c in family.children.values()] if family else [])
        return next(
            (i for i in images if i is not None and i.get("status") in ("QUEUED", "RUNNING")),
            None,
        )

    def on_quiet() -> bool:
        nonlocal sweeps
        image = unfinished()
        if ledger.image is None or image is None:
            return False
        sweeps += 1
        if sweeps > config.max_sweeps:
            ledger.fail(
                "I5",
                f"{image.get('job_id')} still {image.get('status')} after "
                f"{config.max_sweeps} sweeps",
            )
            return False
        sim.at(sim.now + config.watchdog_period_ms, "watchdog", lambda: spawn_operator("watchdog"))
        return True

    core.ACTIVE = sim
    use_runtime(runtime)
    try:
        with quiet_logs(), planted(config.bug), scaled_pages(config.page_keys):
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
            window = config.operator_window_ms or config.fault_window_ms
            for action in ("pause", "resume", "cancel", "watchdog"):
                if sim.fault(config.rates.operator, f"op_{action}"):
                    when = sim.now + c.between(0, window)
                    sim.at(when, action, lambda a=action: spawn_operator(a))
            if config.watchdog_every_ms:
                sim.at(sim.now + config.watchdog_every_ms, SCHEDULED_WATCHDOG, periodic_watchdog)
            sim.run(on_quiet, max_steps=config.max_steps)
            if family is not None:
                family.check_reach()
            image = ledger.image
            status = image.get("status") if image else None
            if status in ("FAILED", "PAUSED") and not config.skip_resume_phase:
                image = _resume_phase(
                    sim, config, ledger, str(status), spawn_operator, periodic_watchdog, on_quiet
                )
            if family is not None:
                family.final(sim.finished)
            else:
                ledger.final(image, sim.finished)
    except (AssertionError, core.HarnessStuck) as exc:
        ledger.fail("harness", str(exc))
        image = None
    finally:
        sim.abort()
        core.ACTIVE = None
        use_runtime(None)
        for done_id in [job_id, *(family.children if family else ())]:
            with contextlib.suppress(Exception):
                env.model(done_id).delete()
    _summarise(summary, image, family, ledger, sim, c)
    violations = family.violations if family is not None else ledger.violations
    return Report(config, list(c.tape), violations, dict(sim.stats), sim.trace, summary)


def _ledgers(
    env: Env,
    config: Config,
    sim: Sim,
    job_id: str,
    model: CountModel | WalkModel,
    in_order: bool,
    fan_sizes: dict[str, int],
) -> tuple[FanOutLedgers | None, Ledger]:
    """The ledgers that check every committed write: one per job, a fan-out's family or one."""
    if config.task == FAN_TASK:
        family = FanOutLedgers(
            sim,
            fan_sizes,
            job_id,
            env.raw_s3,
            in_order=in_order,
            min_margin_ms=config.min_margin_ms,
        )
        sim.on_commit = family.commit
        sim.on_s3_delete = family.deleted
        return family, family.parent
    ledger = Ledger(
        sim, model, job_id, env.raw_s3, in_order=in_order, min_margin_ms=config.min_margin_ms
    )
    sim.on_commit = ledger.commit
    sim.on_s3_delete = ledger.deleted
    return None, ledger


def _store_and_runtime(
    env: Env, config: Config, sim: Sim, clock: SimClock, spill: bool
) -> tuple[JobStore, Runtime]:
    """The schedule's store (planted bug or not) and the runtime its invocations use."""
    codec = (
        StateCodec(env.s3, STATE_BUCKET, inline_limit=config.inline_limit)
        if spill
        else StateCodec()
    )
    store = store_class(config.bug, config.store_cls)(
        env.model,
        clock,
        codec=codec,
        lease_ms=config.lease_ms,
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
    return store, runtime


def _fan_sizes(env: Env, config: Config) -> dict[str, int]:
    """The bucket a fan-out splits: the count bucket for count, else the fan-out bucket."""
    return env.count_bucket() if config.action == "count" else env.fan_sizes


def _action(config: Config) -> str:
    """`count` is built in; any other action is the simulator's (tests/sim/tasks.py)."""
    return config.action if config.action == "count" else f"{ACTION_MODULE}:{config.action}"


def _task_params(
    env: Env, config: Config, c: Chooser
) -> tuple[dict[str, Any], CountModel | WalkModel]:
    """The job's parameters, drawn from the chooser, and the model of what it must count."""
    if config.task == FAN_TASK:
        params: dict[str, Any] = {
            "bucket": COUNT_BUCKET if config.action == "count" else FAN_BUCKET,
            "action": _action(config),
            "concurrency": c.between(*config.concurrency),
            "split": "delimiter",
            "shards": FAN_PREFIXES,
            "max_concurrency": c.between(*config.max_concurrency),
            "child_max_attempts": c.between(*config.max_attempts),
            "poll_s": config.poll_s,
        }
        return params, WalkModel(_fan_sizes(env, config))
    if config.task == SIM_TASK:
        params = {"items": c.between(*config.items)}
        if config.grow:
            params["grow"] = config.grow
        return params, CountModel(params["items"])
    counting = config.action == "count"
    sizes = env.count_bucket() if counting else env.walk_sizes
    params = {
        "bucket": COUNT_BUCKET if counting else WALK_BUCKET,
        "action": _action(config),
        "concurrency": c.between(*config.concurrency),
    }
    limits = draw_limits(c, sorted(sizes)) if config.key_limits else dict(config.limits)
    params.update(limits)
    model = WalkModel(
        sizes,
        limits.get("start_after"),
        prefix=limits.get("prefix", ""),
        start_at=limits.get("start_at"),
        end_before=limits.get("end_before"),
    )
    return params, model


def _operator_acts(
    env: Env,
    store: JobStore,
    config: Config,
    job_id: str,
    action: str,
    final: bool,
    shards: Callable[[Any, str], Any],
) -> Any:
    """What an operator's pause, cancel or resume does, as the CLI does it (shards included)."""
    if action == "pause":
        paused = store.request_pause(job_id)
        return paused.status.value, shards(paused, "pause")
    if action == "cancel":
        cancelled = store.request_cancel(job_id)
        return cancelled.status.value, shards(cancelled, "cancel")
    job = store.find(job_id)
    raise_hops = job is not None and (final or job.hops >= job.max_hops)
    more = job.hops + config.resume_hops if job and raise_hops else None
    resumed = store.resume(job_id, max_hops=more)
    shards(resumed, "resume")
    send_event(env.lambda_client, FUNCTION, resumed)
    return resumed.status.value


def _resume_phase(
    sim: Sim,
    config: Config,
    ledger: Ledger,
    status: str,
    spawn_operator: Callable[..., None],
    periodic_watchdog: Callable[[], None],
    on_quiet: Callable[[], bool],
) -> dict[str, Any] | None:
    """Phase 3: the operator resumes a FAILED or PAUSED job; it must then end as asked (I6)."""
    sim.stats[f"resumed_from_{status}"] += 1
    sim.faults_until = sim.now
    # The chaos is over: operators still due in its window do not act any more.
    # The deployed watchdog's schedule goes on (SCHEDULED_WATCHDOG is no operator):
    # a shard whose hand-off event was lost waits for it while the parent's polling
    # keeps something in flight, so the quiet-time sweeps never come.
    sim.timers = [t for t in sim.timers if t.what not in OPERATOR_ACTIONS]
    heapq.heapify(sim.timers)
    sim.log(f"resume phase: the job was {status}")
    # A cancel accepted before the job failed outlives the resume (only a pause is
    # replaced by it): the resumed job must then end CANCELLED, as asked (I7).
    wanted = "CANCELLED" if (ledger.image or {}).get("cancel_requested") else None
    sim.at(sim.now, "resume", lambda: spawn_operator("resume", final=True))
    scheduled = any(t.what == SCHEDULED_WATCHDOG for t in sim.timers)
    if config.watchdog_every_ms and not scheduled:
        # It stopped while nothing was unfinished; the resume makes work again.
        sim.at(sim.now + config.watchdog_every_ms, SCHEDULED_WATCHDOG, periodic_watchdog)
    sim.run(on_quiet, max_steps=config.max_steps)
    image = ledger.image
    if image is None or image.get("status") not in ("SUCCEEDED", wanted):
        ended = image.get("status") if image else None
        error = image.get("last_error") if image else None
        ledger.fail("I6", f"resumed from {status}, the job ended {ended}: {error}")
    return image


def _summarise(
    summary: dict[str, Any],
    image: dict[str, Any] | None,
    family: FanOutLedgers | None,
    ledger: Ledger,
    sim: Sim,
    c: Chooser,
) -> None:
    """The schedule's one-line summary: where the job ended and what the schedule cost."""
    if image:
        summary.update(
            status=image.get("status"),
            epoch=image.get("epoch"),
            hops=image.get("hops"),
            max_hops=image.get("max_hops"),
            counters=image.get("counters"),
            last_error=(image.get("last_error") or "")[:160] or None,
        )
    if family is not None:
        by_status: dict[str, int] = {}
        for child in family.children.values():
            key = str((child.image or {}).get("status"))
            by_status[key] = by_status.get(key, 0) + 1
        summary["shard_statuses"] = by_status
    summary.update(
        extra_work=sum(sim.processed.values()) - len(sim.processed),
        invocations=sum(1 for a in sim.finished if a.kind == "invocation"),
        commits=ledger.commits,
        decisions=len(c.tape),
        virtual_s=(sim.now - sim.start_ms) // 1000,
    )


def replay(decisions: dict[int, int], **overrides: Any) -> Report:
    """Run one schedule from its printed decisions, in a fresh moto (for a debugger)."""
    from moto import mock_aws

    from tests.sim.chooser import TapeChooser, dense

    with mock_aws():
        env = Env.create()
        return run_schedule(env, TapeChooser(dense(decisions)), Config(**overrides))
