"""Store configuration from the environment, read once per process and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import boto3

from baton.store.constants import (
    CLOCK_SKEW_MS,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TABLE,
    LEASE_TERM_MS,
    STATE_INLINE_LIMIT_BYTES,
)
from baton.store.errors import ConfigError

_TABLE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@dataclass(frozen=True)
class StoreSettings:
    table: str = DEFAULT_TABLE
    state_bucket: str | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    # Compressed state above this many bytes spills to the state bucket.
    state_inline_limit: int = STATE_INLINE_LIMIT_BYTES
    # How long a lease lasts after the holder's last commit, and the clock-skew margin added to
    # it (BATON_LEASE_MS, BATON_CLOCK_SKEW_MS; the local stack scales both with Lambda's delays).
    lease_ms: int = LEASE_TERM_MS
    skew_ms: int = CLOCK_SKEW_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreSettings:
        env = os.environ if env is None else env
        table = env.get("BATON_TABLE", DEFAULT_TABLE)
        if not 3 <= len(table) <= 255 or not set(table) <= _TABLE_NAME_CHARS:
            raise ConfigError(
                f"BATON_TABLE must be a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -), "
                f"got {table!r}"
            )
        bucket = env.get("BATON_STATE_BUCKET") or None
        retention = int_setting(env, "BATON_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 3650)
        inline = int_setting(
            env,
            "BATON_STATE_INLINE_LIMIT",
            STATE_INLINE_LIMIT_BYTES,
            0,
            STATE_INLINE_LIMIT_BYTES,
        )
        return cls(
            table=table,
            state_bucket=bucket,
            retention_days=retention,
            state_inline_limit=inline,
            lease_ms=int_setting(env, "BATON_LEASE_MS", LEASE_TERM_MS, 100, 900_000),
            skew_ms=int_setting(env, "BATON_CLOCK_SKEW_MS", CLOCK_SKEW_MS, 0, 60_000),
        )


def int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Read an integer variable, or explain exactly what is wrong with it."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class DynamoEndpoint:
    """Where the models talk to, resolved by boto3 itself so every AWS_* variable applies."""

    region: str
    host: str

    @classmethod
    def resolve(cls) -> DynamoEndpoint:
        region = resolve_region()
        client = boto3.session.Session().client("dynamodb", region_name=region)
        return cls(region=region, host=client.meta.endpoint_url)


def resolve_region() -> str:
    """The region as boto3 finds it (AWS_DEFAULT_REGION, profile), or AWS_REGION as Lambda sets."""
    region = boto3.session.Session().region_name or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile)"
        )
    return region
