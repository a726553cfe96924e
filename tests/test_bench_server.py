"""The benchmark's server renders timestamps exactly as moto does, only faster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from moto.core import serialize

from benchmarks.server import read_stored_timestamps_fast

VALUES = [
    "2026-12-01T18:28:34.000Z",  # what moto stores for an object's LastModified
    "2026-12-01T18:28:34.123456Z",
    "2026-12-01T18:28:34+02:00",
    "2026-12-01T18:28:34",  # no zone: botocore assumes UTC
    datetime(2026, 12, 1, 18, 28, 34, tzinfo=UTC),
    1764613714,
]
FORMATS = ["iso8601", "rfc822", "unixtimestamp"]


def _render() -> list[object]:
    out = []
    for fmt in FORMATS:
        serializer = serialize.TimestampSerializer(fmt)
        out += [serializer._convert_timestamp_to_str(v, fmt) for v in VALUES]  # type: ignore[arg-type]
    return out


def test_fast_timestamps_render_the_same_text_as_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(serialize, "parse_to_aware_datetime")  # noqa: B009
    monkeypatch.setattr(serialize, "parse_to_aware_datetime", original)  # restored after
    before = _render()
    read_stored_timestamps_fast()
    assert getattr(serialize, "parse_to_aware_datetime") is not original  # noqa: B009
    assert _render() == before
