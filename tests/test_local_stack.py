"""The local stack as a whole: DynamoDB safety through moto's server, `baton up`, `baton demo`,
and nothing left behind (processes, ports, temporary files) however the stack ends."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from baton.handler.launch import prepare
from baton.local.aws_server.moto_server import SerialisedApp
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from tests.support.local_e2e import wait_until

# Real worker processes, paced by real hops: started first (tests/conftest.py).
pytestmark = pytest.mark.real_processes

HANDLER = "tests.support.local_handlers.handle"
RACERS = 6
RACED_JOBS = 30
HAS_PROC = Path("/proc/self/stat").exists()


def alive(pid: int) -> bool:
    """True while the process exists (a zombie counts: it has not been reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def session_members(sid: int) -> list[int]:
    """Processes whose session id is `sid` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
            members.append(int(entry.name))
    return members


def cli(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "baton.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


class CheckThenApply:
    """A conditional write shaped like moto's: read, evaluate the condition, then apply."""

    def __init__(self) -> None:
        self.owner: int | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        free = self.owner is None
        time.sleep(0.01)  # another request thread runs between the check and the write
        if free:
            self.owner = environ["racer"]
        start_response("200 OK", [])
        return [b"won" if free else b"lost"]


def race_threads(app: Any, racers: int = 8) -> int:
    barrier = threading.Barrier(racers)
    answers: list[bytes] = []

    def racer(n: int) -> None:
        barrier.wait()
        answers.extend(app({"racer": n}, lambda *_: None))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers.count(b"won")


def test_the_moto_middleware_makes_each_request_atomic() -> None:
    assert race_threads(CheckThenApply()) > 1, "unserialised, several racers win"
    assert race_threads(SerialisedApp(CheckThenApply())) == 1


def test_many_processes_racing_conditional_writes_on_one_item_exactly_one_wins() -> None:
    """moto alone applies conditions without a lock: two racers can both win. Not through ours."""
    with LocalStack(log_level="WARNING") as stack:
        store = stack.store
        for i in range(RACED_JOBS):
            spec = prepare(
                "s3-walk",
                {"bucket": "raced"},
                action_modules=(),
                now_ms=store.clock.now_ms(),
                job_id=f"race-{i:03d}",
            )
            store.create(spec)
        racers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.race_claims",
                    stack.moto_url,
                    stack.table,
                    str(RACED_JOBS),
                    f"racer-{n}",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(RACERS)
        ]
        for racer in racers:  # every racer is connected and waiting...
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        start_ms = time.time_ns() // 1_000_000 + 300
        for racer in racers:  # ...then all are released for the same instant
            assert racer.stdin is not None
            racer.stdin.write(f"{start_ms}\n")
            racer.stdin.close()
        winners: dict[int, list[str]] = {i: [] for i in range(RACED_JOBS)}
        for racer in racers:
            assert racer.stdout is not None
            out = racer.stdout.read()
            assert racer.wait(timeout=60) == 0
            result = json.loads(out)
            for i in result["won"]:
                winners[i].append(result["owner"])
        jobs = {i: store.get(f"race-{i:03d}") for i in range(RACED_JOBS)}

    assert {i: len(w) for i, w in winners.items()} == dict.fromkeys(range(RACED_JOBS), 1)
    for i, job in jobs.items():
        assert job.hops == 1
        assert job.lease_owner == winners[i][0]


def test_a_crash_inside_the_stack_block_leaves_no_process_port_thread_or_file() -> None:
    function = FunctionConfig(timeout_ms=20_000, handler=HANDLER)
    with (
        pytest.raises(RuntimeError, match="the test crashed"),
        LocalStack(function=function, log_level="WARNING") as stack,
    ):
        client = stack.client("lambda")
        client.invoke(
            FunctionName="baton-worker",
            InvocationType="Event",
            Payload=json.dumps({"mode": "sleep", "seconds": 60}).encode(),
        )
        wait_until(lambda: stack.lambda_.running() == 1, timeout_s=10, what="a busy worker")
        pids, ports, tmpdir = stack.pids(), stack.ports(), stack.tmpdir
        assert tmpdir is not None and tmpdir.exists()
        assert len(pids) >= 2 and all(alive(p) for p in pids)
        assert all(port_open(p) for p in ports)
        raise RuntimeError("the test crashed")
    assert [p for p in pids if alive(p)] == [], "every child is killed and reaped"
    assert [p for p in ports if port_open(p)] == []
    assert not tmpdir.exists()
    ours = ("lambda-", "invocation", "prewarm")
    assert [t.name for t in threading.enumerate() if t.name.startswith(ours)] == []


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc to find the stack's processes")
def test_baton_up_serves_start_and_status_from_another_shell_and_ctrl_c_cleans_up(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    up = cli(
        "up",
        "--timeout", "2",
        "--min-margin-ms", "500",
        "--checkpoint-s", "1",
        "--bucket", "up-bucket",
        "--log-level", "WARNING",
        env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert up.stdout is not None
        lines = []
        while not any(line.startswith("# dead letters:") for line in lines):
            line = up.stdout.readline()
            assert line, f"baton up ended early: {up.stderr.read() if up.stderr else ''}"
            lines.append(line.rstrip("\n"))
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert exports["AWS_ENDPOINT_URL_LAMBDA"].startswith("http://127.0.0.1:")
        ports = [
            int(exports[name].rsplit(":", 1)[1])
            for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_LAMBDA")
        ]
        s3 = boto3.session.Session(
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            region_name=exports["AWS_REGION"],
        ).client("s3", endpoint_url=exports["AWS_ENDPOINT_URL_S3"])
        for i in range(40):
            s3.put_object(Bucket="up-bucket", Key=f"obj-{i:03d}", Body=b"y" * i)

        # "Another terminal": a shell that exported the printed lines.
        shell = {**os.environ, **exports}
        started = cli("start", "s3-walk", "--bucket", "up-bucket", "--json", env=shell)
        out, err = started.communicate(timeout=60)
        assert started.returncode == 0, err
        job_id = json.loads(out)["job_id"]
        deadline = time.monotonic() + 60
        while True:
            status = cli("status", job_id, "--json", env=shell)
            out, err = status.communicate(timeout=60)
            job = json.loads(out)
            if job["status"] == "SUCCEEDED" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert job["status"] == "SUCCEEDED", job
        assert job["counters"]["objects"] == 40
        assert job["counters"]["bytes"] == sum(range(40))

        members = [p for p in session_members(up.pid) if p != up.pid]
        assert members, "the stack runs child processes (moto, workers)"
        assert [p for p in ports if port_open(p)] == ports
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        rest, _ = up.communicate(timeout=30)
    assert up.returncode == 0
    assert "stopped" in rest
    wait_until(lambda: not session_members(up.pid), timeout_s=5, what="every child to be gone")
    assert [p for p in ports if port_open(p)] == []
    assert list(tmp_path.iterdir()) == [], "no temporary file is left"


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc to find the demo's processes")
def test_baton_demo_walks_checks_and_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    demo = cli(
        "demo", "--objects", "2000", "--size", "512", "--timeout", "1", "--min-margin-ms", "400",
        env=env,
        start_new_session=True,
    )  # fmt: skip
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 0, out + err
    assert "demo passed" in out
    assert "MISMATCH" not in out
    # Hops of 600 ms each: 2,000 objects (a GET each, through the moto server) take several
    # whatever the machine's speed. The demo's closing line says how many there were.
    summary = re.search(r"^(\d+) hops, (\d+) invocations", out, re.MULTILINE)
    assert summary and int(summary[1]) >= 2, f"the chain should hop several times:\n{out}"
    assert "objects counted" in out and "2,000" in out
    wait_until(lambda: not session_members(demo.pid), timeout_s=5, what="every child to be gone")
    assert list(tmp_path.iterdir()) == []
