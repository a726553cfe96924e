"""Bring-your-own-task on the local stack: real worker processes, kills and duplicate deliveries.

- A user's task from a module in a temporary folder (outside this repo's packages), allowed by
  BATON_TASK_MODULES and put on the workers' PYTHONPATH as `baton up --code-path` does, runs over
  many hops through kills, duplicates and a step that hangs past the deadline, and ends exact.
- A task from a module the deployment does not list is refused with the reason.
- dynamodb-scan in 4 segments with kills and duplicates counts every item once, and a backfill
  writes every item once (500 items in `make test`, 2,000 in the slow tier; 50,000 with
  BATON_SLOW_TESTS=1).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.constants import DEFAULT_MAX_HOPS
from baton.store.records import Job, JobStatus

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

WALKER = '''
"""A user's task: tick through 0..n-1, one step each, leaving a trace line per tick."""
import os
import time
from pathlib import Path

from baton.handler.api import StepContext, Task, register_task, whole_number


@register_task
class Walker(Task):
    name = "walker-SUFFIX"
    progress_counter = "ticks"

    @classmethod
    def validate(cls, params, action_modules):
        out = {
            "n": whole_number(params, "n", 100, 1, 10**6, "walker "),
            "sleep_ms": whole_number(params, "sleep_ms", 0, 0, 1000, "walker "),
            "hang_at": whole_number(params, "hang_at", -1, -1, 10**6, "walker "),
        }
        out.update({k: str(params[k]) for k in ("trace", "marker") if k in params})
        return out

    def start(self):
        return {"next": 0}

    def step(self, state, ctx: StepContext) -> bool:
        i = state["next"]
        if i == self.params["hang_at"]:
            try:
                Path(self.params["marker"]).touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                time.sleep(300)  # a step that never ends: only the deadline's kill stops it
        time.sleep(self.params["sleep_ms"] / 1000)
        with open(self.params["trace"], "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {i}\\n")
        state["next"] = i + 1
        ctx.count("ticks")
        return state["next"] >= self.params["n"]
'''


def user_folder(tmp_path: Path) -> tuple[Path, str, str]:
    """The user's code in a folder of its own; the test process (the operator's machine, where
    `baton start` validates) imports it from there too."""
    folder = tmp_path / "my-code"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    suffix = secrets.token_hex(4)
    module = f"walker_tasks_{suffix}"
    (folder / f"{module}.py").write_text(WALKER.replace("SUFFIX", suffix), encoding="utf-8")
    return folder, module, f"walker-{suffix}"


def start(
    stack: LocalStack,
    task: str,
    params: dict[str, Any],
    modules: tuple[str, ...],
    max_hops: int = DEFAULT_MAX_HOPS,
) -> Job:
    spec = prepare(
        task,
        params,
        action_modules=stack.action_modules,
        task_modules=modules,
        now_ms=stack.store.clock.now_ms(),
        max_hops=max_hops,
    )
    launched = launch(stack.store, stack.client("lambda"), stack.function.name, spec)
    assert launched.created
    return launched.job


def ended(job: Job) -> bool:
    return job.status.terminal


def test_a_user_task_from_a_folder_outside_the_repo_ends_exact_through_kills_and_duplicates(
    tmp_path: Path,
) -> None:
    folder, module, task = user_folder(tmp_path)
    faults = FaultConfig(duplicate=Fault(0.3, seed=21), kill=Fault(0.2, seed=22))
    trace, marker = tmp_path / "trace", tmp_path / "hung"
    n = 400
    with LocalStack(
        function=FunctionConfig(timeout_ms=2_000),
        faults=faults,
        min_margin_ms=1_000,
        checkpoint_s=1,
        task_modules=(module,),
        code_paths=(folder,),
        log_level="WARNING",
    ) as stack:
        job = start(
            stack,
            task,
            {"n": n, "sleep_ms": 20, "trace": trace, "marker": marker, "hang_at": 150},
            (module,),
        )
        done = stack.wait_for_job(
            job.job_id, ended, timeout_s=240, what="its end", on_poll=LocalWatchdog(stack)
        )
        service = stack.lambda_.snapshot()
        endings = Counter(i.ending for i in stack.lambda_.invocations)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == {"ticks": n}, "exact, whatever was killed, doubled or hung"
    assert done.hops >= 10
    ticks = Counter(line.split()[1] for line in trace.read_text().splitlines())
    assert set(ticks) == {str(i) for i in range(n)}, "every tick ran at least once"
    assert marker.exists() and endings["timeout"] >= 1, "the hung step was killed at its deadline"
    # The faults were in play (drawn from their seeds: the first draws hit); whether a planned
    # kill struck before the hop ended is the schedule's business, not a promise.
    assert service["kills_planned"] >= 1 and service["duplicated"] >= 1


def test_a_task_module_the_deployment_does_not_list_is_refused(tmp_path: Path) -> None:
    folder, module, task = user_folder(tmp_path)
    trace = tmp_path / "trace"
    with LocalStack(
        function=FunctionConfig(timeout_ms=2_000),
        min_margin_ms=1_000,
        code_paths=(folder,),  # the code is there; only the listing is missing
        log_level="WARNING",
    ) as stack:
        job = start(stack, task, {"n": 5, "trace": trace}, (module,))
        done = stack.wait_for_job(job.job_id, ended, timeout_s=60, what="its end")
    assert done.status is JobStatus.FAILED
    assert f"task '{task}' comes from module '{module}'" in (done.last_error or "") or (
        f"unknown task '{task}'" in (done.last_error or "")
    ), done.last_error
    assert "BATON_TASK_MODULES" in (done.last_error or "")
    assert not trace.exists(), "none of the unlisted code ran"


def test_the_local_watchdog_restarts_a_lost_job_while_another_job_keeps_the_service_busy(
    tmp_path: Path,
) -> None:
    """A job whose event is gone (its hand-off was killed after the commit) is restarted even
    while other jobs keep the local Lambda service busy, as a fan-out parent polling its shards
    does every hop. The nudger used to wait for the whole service to be idle, which never
    happens while a parent runs: a lost shard stalled its parent until the test timed out."""
    folder, module, task = user_folder(tmp_path)
    with LocalStack(
        function=FunctionConfig(timeout_ms=5_000),
        min_margin_ms=2_500,
        checkpoint_s=1,
        task_modules=(module,),
        code_paths=(folder,),
        log_level="WARNING",
    ) as stack:
        busy_params = {"n": 10**6, "sleep_ms": 20, "trace": tmp_path / "busy"}
        busy = start(stack, task, busy_params, (module,))
        # The lost job: stored QUEUED at epoch 1 with no lease, and no event ever sent.
        spec = prepare(
            task,
            {"n": 30, "trace": tmp_path / "lost"},
            action_modules=stack.action_modules,
            task_modules=(module,),
            now_ms=stack.store.clock.now_ms(),
        )
        lost, created = stack.store.create(spec)
        assert created
        dog = LocalWatchdog(stack)
        done = stack.wait_for_job(lost.job_id, ended, timeout_s=60, what="its end", on_poll=dog)
        still_busy = stack.store.get(busy.job_id)
        stack.store.request_cancel(busy.job_id)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == {"ticks": 30}
    assert dog.nudges == [1], "one re-send of the lost epoch, no more"
    assert not still_busy.status.terminal, "the other job was running all along"


# ---------------------------------------------------------------------- dynamodb-scan

TABLE = "accounts"
ACTIONS = ("baton.local.demo.actions", "tests.support.table_actions")
BACKFILL = "tests.support.table_actions:backfill"


def fill_table(stack: LocalStack, count: int) -> None:
    client = stack.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    from concurrent.futures import ThreadPoolExecutor

    def write(start: int) -> None:
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"acct-{i:07d}"}, "n": {"N": str(i)}}}}
            for i in range(start, min(start + 25, count))
        ]
        client.batch_write_item(RequestItems={TABLE: batch})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(0, count, 25)))


def family_watchdog(stack: LocalStack) -> Callable[[Job], None]:
    """The local watchdog over a parent and each of its shards."""
    dogs: dict[str, LocalWatchdog] = {}

    def poll(parent: Job) -> None:
        ids = [parent.job_id]
        if parent.has_state:
            state = stack.store.load_state(parent)
            ids += [s["id"] for s in state.get("shards", []) if s["status"] != "PENDING"]
        for job in stack.store.get_many(ids):
            dogs.setdefault(job.job_id, LocalWatchdog(stack))(job)

    return poll


def scan_table(
    count: int,
    action: str = "count",
    *,
    timeout_s: float = 240,
    max_hops: int = DEFAULT_MAX_HOPS,
    hop_ms: int = 5_000,
) -> tuple[Job, list[Job], dict[str, Any], list[dict[str, Any]]]:
    faults = FaultConfig(duplicate=Fault(0.25, seed=31), kill=Fault(0.15, seed=32))
    # Longer hops than the user-task test: a Scan page on moto's server costs milliseconds per
    # item (its serializer), far more than on DynamoDB, and a step must fit inside a hop.
    # A Scan page takes seconds on moto: Lambda's retry delays divided by 10 (6 s, 12 s) give
    # the workers a lease (5.2 s) that covers a step, as the 30 s lease covers one on AWS. A
    # scale that left a lease shorter than a step would have duplicates take over live holders
    # (safe, fenced, but the work is done again and again).
    with LocalStack(
        function=FunctionConfig(timeout_ms=hop_ms, account_concurrency=6, retry_scale=10.0),
        faults=faults,
        min_margin_ms=min(hop_ms // 2, 5_000),
        checkpoint_s=1,
        action_modules=ACTIONS,
        log_level="WARNING",
    ) as stack:
        fill_table(stack, count)
        params = {"source_table": TABLE, "segments": 4, "poll_s": 1, "action": action}
        job = start(stack, "dynamodb-scan", params, (), max_hops)
        done = stack.wait_for_job(
            job.job_id, ended, timeout_s=timeout_s, what="its end", on_poll=family_watchdog(stack)
        )
        state = stack.store.load_state(done)
        shards = stack.store.get_many([s["id"] for s in state["shards"]])
        service = stack.lambda_.snapshot()
        scan = stack.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
        items = scan.build_full_result()["Items"]
    return done, shards, service, items


def check_scan(done: Job, shards: list[Job], service: dict[str, Any], count: int) -> None:
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["items"] == count, "every item counted exactly once"
    assert sum(s.counters["items"] for s in shards) == count
    assert len(shards) == 4 and all(s.status is JobStatus.SUCCEEDED for s in shards)
    # The faults were in play (drawn from their seeds: the first draws hit); whether a planned
    # kill struck before the hop ended is the schedule's business, not a promise.
    assert service["kills_planned"] >= 1 and service["duplicated"] >= 1


# `make test` backfills 500 items (check_scan asserts kills and duplicates struck); the slow
# tier runs the same backfill over 2,000. The wait is long because moto's server takes one
# request at a time: on a loaded machine 2,000 items took more than 240 s.
@pytest.mark.parametrize(
    "count", [pytest.param(500, id="quick"), pytest.param(2_000, id="more", marks=pytest.mark.slow)]
)
def test_dynamodb_scan_in_four_segments_with_kills_and_duplicates_backfills_once(
    count: int,
) -> None:
    done, shards, service, items = scan_table(count, BACKFILL, timeout_s=900)
    check_scan(done, shards, service, count)
    assert len(items) == count
    assert all(i.get("migrated") == {"S": "v2"} for i in items), "every item backfilled"
    assert {i["writes"]["N"] for i in items} == {"1"}, "and written exactly once"
    assert done.counters["migrated"] + done.counters.get("already_migrated", 0) == count


SLOW = pytest.mark.skipif(
    not os.environ.get("BATON_SLOW_TESTS"),
    reason="many minutes on 2 cores (moto's server takes one request at a time, and each Scan "
    "page sorts the whole table): run with BATON_SLOW_TESTS=1",
)


def scan_50000(action: str, timeout_s: float) -> tuple[Job, list[Job], dict[str, Any], list[Any]]:
    """50,000 items in 4 segments, with the figures printed (run with -s to see them)."""
    began = time.monotonic()
    # 20-second hops (Lambda's are up to 900): fewer cold starts and parent polls; the parent
    # still polls every hop, so it gets more than the default 1,000 hops.
    done, shards, service, items = scan_table(
        50_000, action, timeout_s=timeout_s, max_hops=20_000, hop_ms=20_000
    )
    figures = {
        "action": action,
        "wall_s": round(time.monotonic() - began),
        "parent_hops": done.hops,
        "segment_hops": [s.hops for s in shards],
        "segment_items": [s.counters.get("items") for s in shards],
        **{k: service.get(k, 0) for k in ("invocations", "killed", "duplicated", "timeout")},
        "counters": done.counters,
    }
    print(f"\n50,000-item scan: {figures}")
    return done, shards, service, items


@SLOW
@pytest.mark.slow
def test_dynamodb_scan_of_50000_items_in_four_segments_counts_each_once() -> None:
    done, shards, service, items = scan_50000("count", timeout_s=3_000)
    check_scan(done, shards, service, 50_000)
    assert len(items) == 50_000
    assert sum(s.hops for s in shards) >= 8


@SLOW
@pytest.mark.slow
def test_dynamodb_scan_of_50000_items_in_four_segments_backfills_each_once() -> None:
    """One UpdateItem per item through moto's one-request-at-a-time server: 33 minutes on
    2 shared cores (1,996 s, 580 hops, 76 kills, 120 duplicate deliveries)."""
    done, shards, service, items = scan_50000(BACKFILL, timeout_s=10_800)
    check_scan(done, shards, service, 50_000)
    assert all(i.get("migrated") == {"S": "v2"} for i in items), "every item backfilled"
    assert {i["writes"]["N"] for i in items} == {"1"}, "and written exactly once"
    assert done.counters["migrated"] + done.counters.get("already_migrated", 0) == 50_000
