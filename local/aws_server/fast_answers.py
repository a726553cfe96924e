"""moto's answers rendered faster, the same bytes: DynamoDB items and S3 listings.

Only speed changes; both shortcuts fall back to moto's own path for anything they do not cover.
The embedded stack's server, the benchmark's server and the test suite's in-process moto install
them (`install`).

**DynamoDB items.** moto (5.2) renders each DynamoDB answer through a serializer driven by
the service's shapes: for every `AttributeValue` in an item it tries ten members, each through
a chain of alias lookups. A job item (counters, the recent hops, the shards' progress),
returned by every conditional write (`ReturnValues=ALL_NEW`), costs about 13 ms of CPU that
way, most of a write's cost on moto, and the embedded stack and the test suite send thousands.

`AttributeValues` is moto's own serializer with one shortcut: an attribute value that is plain
JSON of the kinds a job item holds (S, N, BOOL, NULL, SS, NS, M, L, nested) is copied as it is,
which is what the generic walk produces for them; anything else (binary values, moto's own
objects) takes moto's path. `tests/test_fast_answers.py` checks that both give the same bytes
for generated items.

**S3 listings.** moto renders a listing by parsing every stored object's timestamp string back
with dateutil (botocore's `parse_to_aware_datetime`): about half a millisecond per key, under
the lock that serialises the server, so one 1,000-key page held every other request for the
better part of a second. Strings `datetime.fromisoformat` reads as a time with a zone are read
that way (the same instant, so the same XML); anything else goes to botocore's function.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moto.core import serialize

from baton.handler.runtime import iso_time_with_zone

PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
PLAIN_SETS = ("SS", "NS")


def plain(value: Any) -> dict[str, Any] | None:
    """`value` as the generic walk renders it, if it is a plain attribute value; else None."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    scalar = PLAIN_SCALARS.get(kind)
    if scalar is not None:
        return value if type(inner) is scalar else None
    if kind in PLAIN_SETS:
        return value if type(inner) is list and all(type(s) is str for s in inner) else None
    if kind == "M" and type(inner) is dict:
        members = {}
        for key, member in inner.items():
            rendered = plain(member)
            if rendered is None:
                return None
            members[key] = rendered
        return {"M": members}
    if kind == "L" and type(inner) is list:
        items = []
        for member in inner:
            rendered = plain(member)
            if rendered is None:
                return None
            items.append(rendered)
        return {"L": items}
    return None


class AttributeValues(serialize.JSONSerializer):
    """moto's JSON serializer, copying plain attribute values instead of walking them."""

    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue":
            rendered = plain(value)
            if rendered is not None:
                if key:
                    serialized[self.get_serialized_name(shape, key)] = rendered
                else:
                    serialized.update(rendered)
                return
        super()._serialize_type_structure(serialized, value, shape, key)


def read_stored_timestamps_fast() -> None:
    """moto's S3 renders each key's timestamp read by `datetime.fromisoformat` when it can."""
    slow = getattr(serialize, "parse_to_aware_datetime")  # noqa: B009 - not exported by moto
    if getattr(slow, "reads_iso_fast", False):
        return  # installed already

    def fast(value: Any) -> datetime:
        parsed = iso_time_with_zone(value)
        if parsed is not None:
            return parsed.astimezone(UTC)  # in UTC, as botocore's function returns
        result: datetime = slow(value)
        return result

    fast.reads_iso_fast = True  # type: ignore[attr-defined]
    fast.motos_own = slow  # type: ignore[attr-defined]
    setattr(serialize, "parse_to_aware_datetime", fast)  # noqa: B010 - moto has no hook for it


def install() -> None:
    """Both shortcuts, in this process (idempotent): moto's DynamoDB answers rendered with
    `AttributeValues`, its S3 timestamps read fast."""
    serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = AttributeValues
    read_stored_timestamps_fast()
