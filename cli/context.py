"""What every command needs, built from the environment and the global flags on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
import typer
from botocore.config import Config

from baton.cli import aws_problems
from baton.handler.config import RelaySettings
from baton.store.config import StoreSettings, resolve_region
from baton.store.errors import ConfigError
from baton.store.job_store import JobStore
from baton.store.model import bound_calls

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client


def cli_calls() -> Config:
    """Short timeouts and a bounded retry budget for every call the CLI makes (the figures and
    why: baton.cli.aws_problems)."""
    return Config(
        connect_timeout=aws_problems.CONNECT_TIMEOUT_S,
        read_timeout=aws_problems.READ_TIMEOUT_S,
        retries={"total_max_attempts": aws_problems.ATTEMPTS, "mode": "standard"},
    )


@dataclass
class CliContext:
    """Flags override the environment; clients are made only when a command needs them."""

    table: str | None = None
    function: str | None = None
    flags: frozenset[str] = frozenset()  # which of table and function came as flags

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.table:
            env["BATON_TABLE"] = self.table
        if self.function:
            env["BATON_FUNCTION"] = self.function
        return env

    def _flagged(self, exc: ConfigError) -> ConfigError:
        """A bad value given as a flag is reported as the flag, not as the variable."""
        message = str(exc)
        if "table" in self.flags:
            message = message.replace("BATON_TABLE", "--table")
        if "function" in self.flags:
            message = message.replace("BATON_FUNCTION", "--function")
        return ConfigError(message)

    @cached_property
    def store_settings(self) -> StoreSettings:
        try:
            return StoreSettings.from_env(self._env())
        except ConfigError as exc:
            raise self._flagged(exc) from None

    @cached_property
    def relay_settings(self) -> RelaySettings:
        try:
            return RelaySettings.from_env(self._env())
        except ConfigError as exc:
            raise self._flagged(exc) from None

    @cached_property
    def store(self) -> JobStore:
        store = JobStore.from_settings(self.store_settings)
        limits = aws_problems
        bound_calls(store.model, limits.CONNECT_TIMEOUT_S, limits.READ_TIMEOUT_S, limits.ATTEMPTS)
        return store

    @cached_property
    def s3(self) -> S3Client:
        return boto3.session.Session(region_name=resolve_region()).client("s3", config=cli_calls())

    @cached_property
    def lambda_client(self) -> LambdaClient:
        session = boto3.session.Session(region_name=resolve_region())
        return session.client("lambda", config=cli_calls())


def ctx_of(ctx: typer.Context) -> CliContext:
    """The CliContext the `baton` callback stored on the typer context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("baton command run without the baton callback")
    return obj
