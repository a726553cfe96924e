"""moto's answers rendered by `baton.local.aws_server.fast_answers` are moto's own bytes.

The suite, the embedded stack and the benchmark's server all run on these shortcuts, so a
difference here would be a difference everywhere: both paths render the same input and the
bytes are compared.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core import serialize
from moto.core.serialize import XFormedAttributePicker
from moto.core.utils import get_service_model

from baton.local.aws_server import fast_answers
from baton.local.aws_server.fast_answers import AttributeValues

DYNAMODB = get_service_model("dynamodb")  # moto's own model of the service

names = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=20)),
    st.builds(lambda n: {"N": str(n)}, st.integers() | st.decimals(allow_nan=False, places=3)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(max_size=5), min_size=1, max_size=4)),
    st.builds(lambda s: {"NS": [str(n) for n in sorted(s)]}, st.sets(st.integers(), min_size=1)),
    # Not plain: moto's own path renders these (a binary value, a value the walk drops).
    st.builds(lambda b: {"B": b}, st.binary(max_size=8)),
    st.just({"S": None}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(names, inner, max_size=4)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=4)),
    ),
    max_leaves=25,
)
items = st.dictionaries(names, values, max_size=6)


def render(serializer_cls: type[serialize.ResponseSerializer], operation: str, result: Any) -> Any:
    serializer = serializer_cls(
        operation_model=DYNAMODB.operation_model(operation),
        pretty_print=False,
        value_picker=XFormedAttributePicker(),
    )
    answer = serializer.serialize(result)
    return answer["status_code"], answer["headers"], answer["body"]


@settings(max_examples=300, deadline=None)
@given(item=items, consumed=st.none() | st.floats(0, 10))
def test_items_render_the_same_bytes_as_motos_serializer(
    item: dict[str, Any], consumed: float | None
) -> None:
    for operation, result in (
        ("GetItem", {"Item": item}),
        ("UpdateItem", {"Attributes": item, "ConsumedCapacity": consumed}),
        ("Query", {"Items": [item, item], "Count": 2, "LastEvaluatedKey": item}),
    ):
        assert render(AttributeValues, operation, result) == render(
            serialize.JSONSerializer, operation, result
        )


def test_a_job_like_item_takes_the_shortcut_and_a_binary_one_does_not() -> None:
    hop = {"M": {"ended_by": {"S": "budget"}, "items": {"N": "12"}, "ok": {"BOOL": True}}}
    job = {"job_id": {"S": "j"}, "recent_hops": {"L": [hop, hop]}, "tags": {"SS": ["a"]}}
    assert fast_answers.plain(job["recent_hops"]) == job["recent_hops"]
    assert fast_answers.plain({"M": {"blob": {"B": b"x"}}}) is None
    _, _, body = render(AttributeValues, "GetItem", {"Item": job})
    assert json.loads(body) == {"Item": job}


TIMESTAMPS = [
    "2026-12-01T18:28:34.000Z",  # what moto stores for an object's LastModified
    "2026-12-01T18:28:34.123456Z",
    "2026-12-01T18:28:34+02:00",
    "2026-12-01T18:28:34",  # no zone: botocore assumes UTC
    datetime(2026, 12, 1, 18, 28, 34, tzinfo=UTC),
    1764613714,
]


def _timestamps() -> list[object]:
    out = []
    for fmt in ("iso8601", "rfc822", "unixtimestamp"):
        serializer = serialize.TimestampSerializer(fmt)
        out += [serializer._convert_timestamp_to_str(v, fmt) for v in TIMESTAMPS]  # type: ignore[arg-type]
    return out


def test_fast_timestamps_render_the_same_text_as_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = getattr(serialize, "parse_to_aware_datetime")  # noqa: B009 - not exported
    motos_own = getattr(installed, "motos_own", installed)
    monkeypatch.setattr(serialize, "parse_to_aware_datetime", motos_own)  # restored after
    before = _timestamps()
    fast_answers.read_stored_timestamps_fast()
    assert getattr(serialize, "parse_to_aware_datetime") is not motos_own  # noqa: B009
    assert _timestamps() == before
