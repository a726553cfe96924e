"""Store configuration from the environment, read once per process and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import boto3
from botocore.configprovider import ConfiguredEndpointProvider

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


def dynamodb_endpoint(session: boto3.session.Session) -> str | None:
    """The DynamoDB endpoint configured for this process (`AWS_ENDPOINT_URL_DYNAMODB`,
    `AWS_ENDPOINT_URL`, a profile's `services` section), or None for AWS's own regional endpoint.

    Read as botocore reads it when it builds a client, without building one: a client costs
    its service model and the endpoint rules, and this runs in every Lambda cold start.
    """
    core = session._session  # boto3 exposes the botocore session only under this name
    provider = ConfiguredEndpointProvider(
        full_config=core.full_config,
        scoped_config=core.get_scoped_config(),
        client_name="dynamodb",
    )
    url = provider.provide()
    return str(url) if url else None


def resolve_region(session: boto3.session.Session | None = None) -> str:
    """The region as boto3 finds it (AWS_DEFAULT_REGION, profile), or AWS_REGION as Lambda sets."""
    session = session or boto3.session.Session()
    region = session.region_name or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile)"
        )
    return region
