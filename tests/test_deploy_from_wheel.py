"""From `pip install` to a running job, with no clone of the repository: a wheel built from the
repo is installed into a fresh virtual environment, `baton deploy --guided` (answers on stdin)
builds the Lambda package from that installation and creates the stack in moto's CloudFormation
(through boto3: no SAM CLI on the PATH), and `baton start` starts a job on the deployed table
and function.

What moto cannot do, and how the test stands in for it, honestly:
- moto runs no Lambda code: `baton start`'s invoke is accepted and runs nothing. The chain is
  driven by a small script run with the fresh environment's Python, importing the *installed*
  `baton.handler.app.lambda_handler` with the deployed function's own environment variables
  (read back from moto's Lambda), one call per epoch the job item says is queued, until the job
  ends. Every hand-off the handler makes still goes through Lambda's API (moto's).
- moto's `ExecuteChangeSet` sets no stack outputs: the names are read from the deployed
  function's configuration instead of `BatonEnvironment`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from baton.local.aws_server.moto_server import MotoServer
from infra.deploy import parameter_specs
from infra.package import find_python

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
STACK = "e2e"
DATA = "e2e-data"
OBJECTS = 300

DRIVE = r"""
import json, os, sys, time, uuid
import boto3
from baton.handler.app import lambda_handler

job_id = sys.argv[1]
table = os.environ["BATON_TABLE"]
name = os.environ["BATON_FUNCTION"]
ddb = boto3.client("dynamodb")

class Context:
    function_name = name
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{name}"
    memory_limit_in_mb = 1024
    log_group_name = f"/aws/lambda/{name}"
    log_stream_name = "e2e"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self.deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)

calls = 0
while calls < 50:
    item = ddb.get_item(TableName=table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
    status, epoch = item["Item"]["status"]["S"], int(item["Item"]["epoch"]["N"])
    if status in ("SUCCEEDED", "FAILED", "CANCELLED"):
        break
    lambda_handler({"job_id": job_id, "epoch": epoch}, Context())
    calls += 1
print(json.dumps({"status": status, "calls": calls}))
"""


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding baton from a wheel built from this repository."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = work.glob("baton-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    pip = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert pip.returncode == 0, pip.stderr
    return env_dir


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server, and the environment a user's shell would have for it (no ~/.aws)."""
    logs = tmp_path_factory.mktemp("moto")
    server = MotoServer(logs / "moto.log").start()
    try:
        yield {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(logs),
            # A Python of the runtime's version compiles the package's bytecode: pyenv's here.
            "PYENV_ROOT": os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")),
            "AWS_ENDPOINT_URL": server.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
        }
    finally:
        server.stop()


def _client(aws: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def guided_answers(read_buckets: str) -> str:
    """What a user types: stack name, region, each parameter (Enter keeps the default but for
    ReadBuckets), the package bucket (Enter: baton's own), confirm, save, deploy."""
    lines = [STACK, REGION]
    lines += [read_buckets if name == "ReadBuckets" else "" for name, _ in parameter_specs()]
    lines += ["", "y", "y", "y"]
    return "\n".join(lines) + "\n"


def test_a_pip_installed_baton_deploys_the_stack_and_runs_a_job_through_it(
    installed: Path, aws: dict[str, str], tmp_path: Path
) -> None:
    s3 = _client(aws, "s3")
    s3.create_bucket(Bucket=DATA)
    for i in range(OBJECTS):
        s3.put_object(Bucket=DATA, Key=f"logs/{i:04d}.txt", Body=b"x" * i)
    # The user's machine: no repository, no SAM CLI; a Python of the runtime's version (pyenv's,
    # on this machine) compiles the package's bytecode.
    env = {**aws, "PATH": os.pathsep.join([str(installed / "bin"), aws["PATH"]])}
    home = tmp_path / "project"
    home.mkdir()
    baton = str(installed / "bin" / "baton")

    python313 = find_python("3.13")[1]
    deployed = _run(
        [baton, "deploy", "--guided", "--out", str(tmp_path / "build")]
        + ([] if python313 else ["--allow-no-bytecode"]),
        input=guided_answers(DATA),
        env=env,
        cwd=home,
        timeout=900,
    )
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert f"stack {STACK} created" in deployed.stdout
    if python313:
        assert "bytecode compiled for python3.13" in deployed.stdout

    # The stack exists, and the package it runs is the one built from the installation.
    cloudformation = _client(aws, "cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    function = _client(aws, "lambda").get_function(FunctionName=f"{STACK}-worker")
    assert function["Configuration"]["Runtime"] == "python3.13"
    # moto ignores Architectures (test_infra asserts it on the template); the code is the zip
    # built from the installation, uploaded and named by the transformed template.
    built = (tmp_path / "build" / "baton-lambda.zip").read_bytes()
    digest = base64.b64encode(hashlib.sha256(built).digest()).decode()
    assert function["Configuration"]["CodeSha256"] == digest
    variables = function["Configuration"]["Environment"]["Variables"]
    assert variables["BATON_TABLE"] == f"{STACK}-jobs"
    policies = _client(aws, "iam").list_policies(Scope="Local")["Policies"]
    assert any("WorkerReadBucketsPolicy" in p["PolicyName"] for p in policies)
    # The answers are remembered, as `sam deploy --guided` does.
    remembered = (home / "baton-deploy.toml").read_text(encoding="utf-8")
    assert f'stack_name = "{STACK}"' in remembered and f'ReadBuckets = "{DATA}"' in remembered

    # `baton start` from the installed CLI, on the deployed table and function.
    cli_env = {
        **env,
        "BATON_TABLE": variables["BATON_TABLE"],
        "BATON_FUNCTION": variables["BATON_FUNCTION"],
        "BATON_STATE_BUCKET": variables["BATON_STATE_BUCKET"],
    }
    started = _run(
        [baton, "start", "s3-walk", "--bucket", DATA, "--action", "count", "--json"],
        env=cli_env,
        cwd=home,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    job_id = json.loads(started.stdout)["job_id"]

    # moto runs no Lambda code: the installed handler runs each hop (see the module's doc).
    driven = _run(
        [str(installed / "bin" / "python"), "-c", DRIVE, job_id],
        # The function's environment, and the region variables Lambda's runtime sets.
        env={
            **env,
            **{k: str(v) for k, v in variables.items()},
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": variables["BATON_FUNCTION"],
        },
        cwd=home,
        timeout=300,
    )
    assert driven.returncode == 0, driven.stderr[-3000:]
    assert json.loads(driven.stdout.strip().splitlines()[-1])["status"] == "SUCCEEDED"

    status = _run([baton, "status", job_id, "--json"], env=cli_env, cwd=home, timeout=60)
    assert status.returncode == 0, status.stderr
    job = json.loads(status.stdout)
    assert job["status"] == "SUCCEEDED"
    assert job["counters"]["objects"] == OBJECTS
    assert job["counters"]["bytes"] == sum(range(OBJECTS))


def test_doctor_refuses_what_would_fail_saying_what_to_change(
    installed: Path, aws: dict[str, str], tmp_path: Path
) -> None:
    baton = str(installed / "bin" / "baton")
    refused = _run(
        [
            baton,
            "doctor",
            "--stack-name",
            "s" * 56,
            "-p",
            "ReadBuckets=no-such-bucket-here",
            "-p",
            "WorkerReservedConcurrency=-1",
        ],
        env=aws,
        cwd=tmp_path,
        timeout=120,
    )
    assert refused.returncode == 1
    out = " ".join(refused.stdout.split())
    assert "at most 55 characters" in out
    assert "WorkerReservedConcurrency='-1': is below MinValue 0" in out
    assert "bucket no-such-bucket-here (ReadBuckets) does not exist" in out
    # moto has no GetAccountSettings: the quota is reported as unchecked, with what to check.
    assert "Lambda concurrency quota not read" in out and "check by hand" in out
