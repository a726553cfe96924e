"""What every command needs, built from the environment and the global flags on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
import typer

from baton.handler.config import RelaySettings
from baton.store.config import StoreSettings, resolve_region
from baton.store.protocol import JobStore

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client


@dataclass
class CliContext:
    """Flags override the environment; clients are made only when a command needs them."""

    table: str | None = None
    function: str | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.table:
            env["BATON_TABLE"] = self.table
        if self.function:
            env["BATON_FUNCTION"] = self.function
        return env

    @cached_property
    def store_settings(self) -> StoreSettings:
        return StoreSettings.from_env(self._env())

    @cached_property
    def relay_settings(self) -> RelaySettings:
        return RelaySettings.from_env(self._env())

    @cached_property
    def store(self) -> JobStore:
        return JobStore.from_settings(self.store_settings)

    @cached_property
    def s3(self) -> S3Client:
        return boto3.session.Session(region_name=resolve_region()).client("s3")

    @cached_property
    def lambda_client(self) -> LambdaClient:
        return boto3.session.Session(region_name=resolve_region()).client("lambda")


def ctx_of(ctx: typer.Context) -> CliContext:
    """The CliContext the `baton` callback stored on the typer context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("baton command run without the baton callback")
    return obj
