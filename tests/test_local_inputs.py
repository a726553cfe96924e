"""The input tasks end to end on the local stack, under duplicate deliveries and killed workers.

An S3 Inventory report of 3 CSV.gz files listing 30,000 objects, and a 20 MB JSON Lines object
(the 200 MB run is `make bench`): counters must equal what the inputs hold, exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from baton.handler.launch import launch, prepare
from baton.handler.watchdog import Watchdog, WatchdogSettings
from baton.local.demo.sample_inputs import inventory_key, json_lines, put_inventory
from baton.local.lambda_service.faults import Fault, FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.lambda_service.invocations import Invocation
from baton.local.local_watchdog import LocalWatchdog
from baton.local.stack import LocalStack
from baton.store.records import Job
from tests.support.local_e2e import LOCAL_ACTIONS

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

PACE = "tests.support.local_record_actions"
TIMEOUT_MS = 3_000


def make_stack() -> LocalStack:
    """Hops of 3 s with 1.5 s kept in hand: a killed worker's replacement starts cold, and a
    manifest hop's first step reads a whole data file again; both must fit on a busy machine."""
    faults = FaultConfig(duplicate=Fault(0.3, seed=21), kill=Fault(0.2, seed=22))
    return LocalStack(
        function=FunctionConfig(timeout_ms=TIMEOUT_MS),
        faults=faults,
        min_margin_ms=1_500,
        checkpoint_s=1,
        action_modules=(LOCAL_ACTIONS, PACE),
        log_level="WARNING",
    )


def start(stack: LocalStack, task: str, params: dict[str, object]) -> Job:
    spec = prepare(
        task, params, action_modules=stack.action_modules, now_ms=stack.store.clock.now_ms()
    )
    launched = launch(stack.store, stack.client("lambda"), stack.function.name, spec)
    assert launched.created
    return launched.job


def run_to_end(stack: LocalStack, job: Job, timeout_s: float) -> Job:
    """Poll to the end with both watchdogs: the local one re-sends a QUEUED chain whose event was
    lost; baton's own re-arms a RUNNING job whose killed holder's retries were all discarded
    while its lease was still live (it commits every second when alive, so 15 s idle is a
    stall, long after any lease has expired)."""
    local = LocalWatchdog(stack)
    sweeper = Watchdog(
        stack.store, stack.client("lambda"), stack.function.name, WatchdogSettings(15, 3)
    )
    swept_at = [time.monotonic()]

    def on_poll(j: Job) -> None:
        local(j)
        if time.monotonic() - swept_at[0] > 2:
            swept_at[0] = time.monotonic()
            sweeper.sweep()

    return stack.wait_for_job(
        job.job_id,
        lambda j: j.status.terminal,
        timeout_s=timeout_s,
        what="its end",
        on_poll=on_poll,
    )


def assert_blocked_hop_was_killed(marker: Path, invocations: list[Invocation]) -> None:
    """The hop that blocked never returned: its deadline ended it, or the kill fault struck first
    (which of the two is the schedule's choice; either way the work it held was redone)."""
    pid = int(marker.read_text())
    endings = {i.ending for i in invocations if i.pid == pid}
    assert endings & {"timeout", "killed"}, f"the blocked worker {pid} ended {endings}"


def test_an_inventory_of_30000_objects_is_walked_exactly_under_faults(tmp_path: Path) -> None:
    with make_stack() as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket="inventory")
        truth = put_inventory(s3, "inventory", "photos", 30_000, 3)
        marker = tmp_path / "blocked"
        # The walk blocks once in the middle of the second file, beyond the timeout: that hop is
        # killed at its deadline and retried from its last commit (mid-file).
        params = {
            "manifest": truth.manifest_uri,
            "action": f"{LOCAL_ACTIONS}:slow",
            "action_params": {
                "block_key": inventory_key(15_001),
                "marker": str(marker),
                "block_s": 60,
            },
        }
        job = start(stack, "s3-manifest", params)
        done = run_to_end(stack, job, timeout_s=300)
        invocations = list(stack.lambda_.invocations)

    assert done.status.value == "SUCCEEDED", done.last_error
    assert done.counters == truth.counters(), "counters equal the manifest's rows exactly"
    assert marker.exists()
    assert_blocked_hop_was_killed(marker, invocations)


def test_a_20_mb_json_lines_object_over_many_hops_with_exact_counters(tmp_path: Path) -> None:
    body = json_lines(100_000, width=110)
    assert len(body) > 20_000_000
    with make_stack() as stack:
        s3 = stack.client("s3")
        s3.create_bucket(Bucket="exports")
        s3.put_object(Bucket="exports", Key="dump.jsonl", Body=body)
        marker = tmp_path / "blocked"
        block_at = body.index(b'{"id": 50001,')
        # 1 ms every 3 records: at least 33 s of work, so at least 11 hops of at most 3 s.
        params = {
            "bucket": "exports",
            "key": "dump.jsonl",
            "format": "jsonl",
            "range_size": 1024**2,
            "action": f"{PACE}:pace",
            "action_params": {
                "sleep_ms": 1,
                "every": 3,
                "block_offset": block_at,
                "marker": str(marker),
                "block_s": 60,
            },
        }
        job = start(stack, "s3-lines", params)
        done = run_to_end(stack, job, timeout_s=400)
        invocations = list(stack.lambda_.invocations)

    assert done.status.value == "SUCCEEDED", done.last_error
    assert done.counters == {"records": 100_000, "bytes": len(body), "objects": 1}
    assert done.hops >= 10
    assert marker.exists()
    assert_blocked_hop_was_killed(marker, invocations)
