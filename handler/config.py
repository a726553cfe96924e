"""Relay configuration from the environment, read once per process and validated."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from baton.store.config import int_setting
from baton.store.errors import ConfigError

DEFAULT_FUNCTION = "baton-worker"
DEFAULT_MIN_MARGIN_MS = 10_000
DEFAULT_CHECKPOINT_S = 10

_FUNCTION_NAME = re.compile(
    r"^(arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$"
)
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class RelaySettings:
    function_name: str = DEFAULT_FUNCTION
    min_margin_ms: int = DEFAULT_MIN_MARGIN_MS
    checkpoint_s: int = DEFAULT_CHECKPOINT_S
    action_modules: tuple[str, ...] = ()
    # BATON_RESERVED_CONCURRENCY: the worker's reserved concurrency as deployed (None: unknown).
    reserved_concurrency: int | None = None
    # Modules whose `register_task`-ed tasks jobs may name (imported by the worker at start).
    task_modules: tuple[str, ...] = ()

    @property
    def fanout_cap(self) -> int | None:
        """The most shards a fan-out runs at once: one slot stays free for parents. A parked
        parent holds none while it waits; it needs one only for the short hop a shard's end
        wakes it to, and with every slot held by shards that hop would queue behind them."""
        if self.reserved_concurrency is None:
            return None
        return max(1, self.reserved_concurrency - 1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RelaySettings:
        env = os.environ if env is None else env
        function = env.get("BATON_FUNCTION", DEFAULT_FUNCTION).strip()
        if not _FUNCTION_NAME.match(function):
            raise ConfigError(
                f"BATON_FUNCTION must be a Lambda function name or ARN, got {function!r}"
            )
        return cls(
            function_name=function,
            min_margin_ms=int_setting(
                env, "BATON_MIN_MARGIN_MS", DEFAULT_MIN_MARGIN_MS, 0, 900_000
            ),
            checkpoint_s=int_setting(env, "BATON_CHECKPOINT_S", DEFAULT_CHECKPOINT_S, 1, 900),
            action_modules=module_list(env, "BATON_ACTION_MODULES"),
            task_modules=module_list(env, "BATON_TASK_MODULES"),
            reserved_concurrency=(
                int_setting(env, "BATON_RESERVED_CONCURRENCY", 0, 0, 10_000)
                if env.get("BATON_RESERVED_CONCURRENCY", "").strip()
                else None
            ),
        )


def module_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of Python module names from `env[name]` (empty when unset)."""
    modules = tuple(m.strip() for m in env.get(name, "").split(",") if m.strip())
    for module in modules:
        if not _MODULE_NAME.match(module):
            raise ConfigError(
                f"{name} must be a comma-separated list of Python module names, got {module!r}"
            )
    return modules
