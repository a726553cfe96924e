"""Configuration is validated once, with a message naming the variable."""

from __future__ import annotations

import pytest

from baton.handler.config import RelaySettings
from baton.store.config import StoreSettings
from baton.store.errors import ConfigError


def test_defaults() -> None:
    relay = RelaySettings.from_env({})
    assert (relay.function_name, relay.min_margin_ms, relay.checkpoint_s) == (
        "baton-worker",
        10_000,
        10,
    )
    assert StoreSettings.from_env({}).table == "baton-jobs"


def test_values_are_read() -> None:
    relay = RelaySettings.from_env(
        {
            "BATON_FUNCTION": "arn:aws:lambda:eu-west-1:123456789012:function:w:live",
            "BATON_MIN_MARGIN_MS": "2500",
            "BATON_CHECKPOINT_S": " 5 ",
            "BATON_ACTION_MODULES": "acme.actions, acme.more",
        }
    )
    assert relay.min_margin_ms == 2_500 and relay.checkpoint_s == 5
    assert relay.action_modules == ("acme.actions", "acme.more")
    store = StoreSettings.from_env({"BATON_TABLE": "t.1-x", "BATON_STATE_BUCKET": "bkt"})
    assert (store.table, store.state_bucket) == ("t.1-x", "bkt")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BATON_MIN_MARGIN_MS": "ten"}, "BATON_MIN_MARGIN_MS must be an integer"),
        ({"BATON_MIN_MARGIN_MS": "-1"}, "BATON_MIN_MARGIN_MS must be between"),
        ({"BATON_CHECKPOINT_S": "0"}, "BATON_CHECKPOINT_S must be between"),
        ({"BATON_FUNCTION": "no spaces allowed"}, "BATON_FUNCTION"),
        ({"BATON_ACTION_MODULES": "ok, os;rm"}, "BATON_ACTION_MODULES"),
    ],
)
def test_bad_relay_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        RelaySettings.from_env(env)


@pytest.mark.parametrize("table", ["ab", "has space", "x" * 256])
def test_bad_table_names_are_refused(table: str) -> None:
    with pytest.raises(ConfigError, match="BATON_TABLE"):
        StoreSettings.from_env({"BATON_TABLE": table})
