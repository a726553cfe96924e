"""The local stack in one object: moto's server (DynamoDB, S3) and the local Lambda service.

    with LocalStack(function=FunctionConfig(timeout_ms=2_000)) as stack:
        stack.client("s3").put_object(...)
        launch(stack.store, stack.client("lambda"), stack.function.name, spec)
        stack.wait_for_job(job_id, lambda job: job.status.terminal)

Everything listens on 127.0.0.1 on free ports; everything the stack starts (the moto process,
worker processes, threads, sockets, its temporary directory) is gone when it closes, whether the
block ended normally, raised, or was interrupted with Ctrl-C. If the owning process is killed
outright, its children notice within half a second and exit (`baton.local.processes`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from baton.handler.config import DEFAULT_CHECKPOINT_S, DEFAULT_MIN_MARGIN_MS
from baton.local.aws_server.lossy_proxy import LossyProxy
from baton.local.aws_server.moto_server import MotoServer
from baton.local.lambda_service.faults import FaultConfig
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.lambda_service.http_api import LambdaApi, LambdaHttpServer
from baton.local.lambda_service.service import LambdaService
from baton.local.processes import pythonpath
from baton.store.codec import StateCodec
from baton.store.constants import CLOCK_SKEW_MS, DEFAULT_TABLE
from baton.store.job_store import JobStore
from baton.store.model import bind_job_model
from baton.store.records import Job

CREDENTIAL = "local"  # moto accepts any credentials; these never leave the machine
DEFAULT_STATE_BUCKET = "baton-state"
DEMO_ACTIONS = "baton.local.demo.actions"


class JobWaitTimeout(Exception):
    """A job did not reach the awaited condition in time; the message holds the job, the Lambda
    service's counters and the end of the function log, to see why."""


class LocalStack:
    def __init__(
        self,
        *,
        function: FunctionConfig | None = None,
        faults: FaultConfig | None = None,
        table: str = DEFAULT_TABLE,
        buckets: Sequence[str] = (),
        state_bucket: str = DEFAULT_STATE_BUCKET,
        min_margin_ms: int = DEFAULT_MIN_MARGIN_MS,
        checkpoint_s: int = DEFAULT_CHECKPOINT_S,
        action_modules: Sequence[str] = (DEMO_ACTIONS,),
        log_level: str = "INFO",
        worker_env: Mapping[str, str] | None = None,
        lossy_dynamodb: float = 0.0,
        lossy_seed: int = 0,
        task_modules: Sequence[str] = (),
        code_paths: Sequence[str | Path] = (),
    ) -> None:
        self.function = function or FunctionConfig()
        self.faults = faults or FaultConfig()
        self.table = table
        self.buckets = tuple(buckets)
        self.state_bucket = state_bucket
        self.min_margin_ms = min_margin_ms
        self.checkpoint_s = checkpoint_s
        self.action_modules = tuple(action_modules)
        self.task_modules = tuple(task_modules)
        # The user's code: folders put on the workers' PYTHONPATH, after this checkout.
        self.code_paths = tuple(str(Path(p).resolve()) for p in code_paths)
        self.log_level = log_level
        self.extra_worker_env = dict(worker_env or {})
        # Share of the workers' DynamoDB writes whose answer a loopback proxy loses after they
        # landed (local/aws_server/lossy_proxy.py); 0 sends them straight to the moto server.
        self.lossy_dynamodb = lossy_dynamodb
        self.lossy_seed = lossy_seed
        self.proxy: LossyProxy | None = None
        self.tmpdir: Path | None = None
        self.moto: MotoServer | None = None
        self.service: LambdaService | None = None
        self.http: LambdaHttpServer | None = None
        self._store: JobStore | None = None
        self._clients: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> LocalStack:
        atexit.register(self.close)
        try:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="baton-local-"))
            self.moto = MotoServer(self.tmpdir / "moto.log").start()
            if self.lossy_dynamodb > 0:
                self.proxy = LossyProxy(
                    self.moto.url, drop_rate=self.lossy_dynamodb, seed=self.lossy_seed
                ).start()
            # The workers' environment names the Lambda port, known once the server is bound:
            # it is filled in before the service starts its first worker.
            self.service = LambdaService(self.function, {}, self.tmpdir, self.faults)
            self.http = LambdaHttpServer(LambdaApi(self.service))
            self.service.pool.env.update(self.worker_env())
            self.http.start()
            self.service.start()
            self.store.ensure_table()
            s3 = self.client("s3")
            for bucket in (self.state_bucket, *self.buckets):
                s3.create_bucket(Bucket=bucket)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop everything this stack started; safe to call twice, or after a failed start."""
        atexit.unregister(self.close)
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        if self.service is not None:
            self.service.close()
        if self.http is not None:
            self.http.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.moto is not None:
            self.moto.stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.service = None
        self.http = None
        self.moto = None
        self.proxy = None
        self._store = None

    # ------------------------------------------------------------------ endpoints

    @property
    def lambda_(self) -> LambdaService:
        if self.service is None:
            raise RuntimeError("the local stack is not running")
        return self.service

    @property
    def moto_url(self) -> str:
        if self.moto is None:
            raise RuntimeError("the local stack is not running")
        return self.moto.url

    @property
    def lambda_url(self) -> str:
        if self.http is None:
            raise RuntimeError("the local stack is not running")
        return self.http.url

    def ports(self) -> list[int]:
        return [self.moto.port if self.moto else 0, self.http.port if self.http else 0]

    def pids(self) -> list[int]:
        """Every process the stack runs now: the moto server and the workers."""
        pids = [self.moto.pid] if self.moto and self.moto.pid else []
        return pids + (self.service.worker_pids() if self.service else [])

    def env(self) -> dict[str, str]:
        """What a client (`baton start/status`, boto3, the AWS CLI) exports to use this stack."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.moto_url,
            "AWS_ENDPOINT_URL_S3": self.moto_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "AWS_ACCESS_KEY_ID": CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": CREDENTIAL,
            "AWS_SESSION_TOKEN": CREDENTIAL,
            "AWS_REGION": self.function.region,
            "AWS_DEFAULT_REGION": self.function.region,
            "BATON_TABLE": self.table,
            "BATON_FUNCTION": self.function.name,
            "BATON_STATE_BUCKET": self.state_bucket,
            "BATON_ACTION_MODULES": ",".join(self.action_modules),
            "BATON_TASK_MODULES": ",".join(self.task_modules),
        }

    def export_lines(self) -> list[str]:
        lines = [f"export {name}={value}" for name, value in self.env().items()]
        if self.code_paths:
            # `baton start` imports the listed task modules to validate parameters.
            lines.append(f"export PYTHONPATH={os.pathsep.join(self.code_paths)}:$PYTHONPATH")
        return lines

    def worker_env(self) -> dict[str, str]:
        """The environment of every worker process: Lambda's variables, ours, nothing else."""
        assert self.tmpdir is not None
        nowhere = str(self.tmpdir / "no-aws-config")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONPATH": os.pathsep.join((pythonpath(), *self.code_paths)),
            "AWS_CONFIG_FILE": nowhere,
            "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": self.function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function.name}",
            "_HANDLER": self.function.handler,
            "POWERTOOLS_SERVICE_NAME": "baton",
            "POWERTOOLS_METRICS_NAMESPACE": "Baton",
            "POWERTOOLS_LOG_LEVEL": self.log_level,
            "BATON_MIN_MARGIN_MS": str(self.min_margin_ms),
            "BATON_CHECKPOINT_S": str(self.checkpoint_s),
            **self.lease_env(),
            **self.env(),
            **self.extra_worker_env,
        }
        if self.proxy is not None:
            env["AWS_ENDPOINT_URL_DYNAMODB"] = self.proxy.url
        return env

    def lease_env(self) -> dict[str, str]:
        """The store's clock-skew margin on the Lambda service's time scale, and a lease term
        that a retry (its delay scaled alike) finds expired, as on AWS; a value in `worker_env`
        wins."""
        skew = self.function.scaled_ms(CLOCK_SKEW_MS)
        lease = self.function.lease_ms(skew)
        scaled = {"BATON_LEASE_MS": str(lease), "BATON_CLOCK_SKEW_MS": str(skew)}
        return {name: self.extra_worker_env.get(name, value) for name, value in scaled.items()}

    # ------------------------------------------------------------------ clients

    def client(self, service: str, *, max_attempts: int = 4) -> Any:
        """A boto3 client for "s3", "dynamodb" or "lambda" on this stack (made once, reused).

        `max_attempts` is botocore's total attempts (standard retry mode); 1 turns retries off.
        """
        key = f"{service}/{max_attempts}"
        if key not in self._clients:
            urls = {"s3": self.moto_url, "dynamodb": self.moto_url, "lambda": self.lambda_url}
            session = boto3.session.Session(
                aws_access_key_id=CREDENTIAL,
                aws_secret_access_key=CREDENTIAL,
                region_name=self.function.region,
            )
            self._clients[key] = session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=urls[service],
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard", "max_attempts": max_attempts},
                    max_pool_connections=16,
                ),
            )
        return self._clients[key]

    @property
    def store(self) -> JobStore:
        """The job store on this stack's table (states spill to its state bucket), with its own
        endpoint and credentials."""
        if self._store is None:
            model = bind_job_model(self.table, self.function.region, self.moto_url)
            meta: Any = model.Meta  # pynamodb reads credentials from Meta when they are set
            meta.aws_access_key_id = CREDENTIAL
            meta.aws_secret_access_key = CREDENTIAL
            codec = StateCodec(self.client("s3"), self.state_bucket)
            lease = self.lease_env()
            self._store = JobStore(
                model,
                codec=codec,
                lease_ms=int(lease["BATON_LEASE_MS"]),
                skew_ms=int(lease["BATON_CLOCK_SKEW_MS"]),
            )
        return self._store

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Export this stack's environment in this process for the duration of the block."""
        saved = {name: os.environ.get(name) for name in self.env()}
        os.environ.update(self.env())
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # ------------------------------------------------------------------ waiting

    def wait_for_job(
        self,
        job_id: str,
        until: Callable[[Job], bool],
        *,
        timeout_s: float,
        poll_s: float = 0.1,
        what: str = "the condition",
        on_poll: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll the job item until `until(job)` holds, and return it.

        Raises:
            JobWaitTimeout: `timeout_s` passed first (the message says where the job stands).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.store.get(job_id)
            if on_poll is not None:
                on_poll(job)
            if until(job):
                return job
            if time.monotonic() > deadline:
                raise JobWaitTimeout(
                    f"job {job_id} did not reach {what} within {timeout_s:.0f} s; it is "
                    f"{job.status.value} at epoch {job.epoch} after {job.hops} hops, counters "
                    f"{job.counters}, last error {job.last_error!r}; Lambda service: "
                    f"{self.lambda_.snapshot()}\n--- end of the function log ---\n"
                    f"{self.log_tail()}"
                )
            time.sleep(poll_s)

    def log_tail(self, lines: int = 40) -> str:
        if self.service is None or not self.service.log_path.exists():
            return ""
        text = self.service.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
