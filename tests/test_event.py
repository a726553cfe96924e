"""The event parser accepts exactly {"job_id": str, "epoch": int} and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.handler.event import InvalidEvent, parse_relay_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=8,
)


def test_a_relay_event_is_accepted() -> None:
    event = parse_relay_event({"job_id": "2026-job_1.a", "epoch": 3})
    assert (event.job_id, event.epoch) == ("2026-job_1.a", 3)
    assert event.payload() == {"job_id": "2026-job_1.a", "epoch": 3}


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({}, "job_id"),
        ({"job_id": "j"}, "epoch"),
        ({"job_id": "j", "epoch": "1"}, "epoch"),
        ({"job_id": "j", "epoch": 1.0}, "epoch"),
        ({"job_id": "j", "epoch": True}, "epoch"),
        ({"job_id": "j", "epoch": 0}, "epoch"),
        ({"job_id": "j", "epoch": -4}, "epoch"),
        ({"job_id": "j", "epoch": 2**60}, "epoch"),
        ({"job_id": "bad id!", "epoch": 1}, "job_id"),
        ({"job_id": "", "epoch": 1}, "job_id"),
        ({"job_id": "x" * 129, "epoch": 1}, "job_id"),
        ({"job_id": "j\n", "epoch": 1}, "job_id"),
        ({"job_id": 5, "epoch": 1}, "job_id"),
        ({"job_id": "j", "epoch": 1, "state": {}}, "state"),
        ([], "JSON object"),
        ('{"job_id": "j", "epoch": 1}', "JSON object"),
        (None, "JSON object"),
    ],
)
def test_anything_else_is_rejected_with_the_reason(event: Any, problem: str) -> None:
    with pytest.raises(InvalidEvent, match=problem):
        parse_relay_event(event)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_no_input_crashes_the_parser(value: Any) -> None:
    try:
        event = parse_relay_event(value)
    except InvalidEvent as exc:
        assert str(exc)
    else:
        assert isinstance(event.job_id, str) and event.epoch >= 1


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["job_id", "epoch", "x"]), json_values, max_size=3))
def test_near_misses_never_pass_as_events(value: dict[str, Any]) -> None:
    try:
        event = parse_relay_event(value)
    except InvalidEvent:
        return
    assert set(value) == {"job_id", "epoch"}
    assert type(value["epoch"]) is int and event.epoch == value["epoch"]
