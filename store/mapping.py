"""The job item as a `Job`, in one place: for each field of `Job`, how its attribute decodes.

The model (store/model.py) is the table's shape; `Job` (store/records.py) is what the code reads.
A field added to both needs one line here, or none when its attribute has the same name and
needs no conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from baton.store.codec import StateRef
from baton.store.model import JobModel
from baton.store.records import HopRecord, Job, JobStatus

# Job fields stored under another attribute name.
ATTRIBUTE_OF = {"state_blob": "state"}


def plain(value: Any) -> dict[str, Any]:
    """A raw pynamodb MapAttribute (or None) as a plain dict."""
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value)


def _ints(value: Any) -> dict[str, int]:
    return {k: int(v) for k, v in plain(value).items()}


def _int_or_none(value: Any) -> int | None:
    return int(value) if value else None


def _hops(value: Any) -> tuple[HopRecord, ...]:
    return tuple(
        HopRecord(
            hop=int(h.hop),
            epoch=int(h.epoch),
            owner=h.owner,
            started_at=h.started_at,
            ended_at=h.ended_at,
            items=int(h.items),
            ended_by=h.ended_by,
        )
        for h in (value or [])
    )


# How each attribute decodes; fields not listed are taken as they are.
DECODE: dict[str, Callable[[Any], Any]] = {
    "status": JobStatus,
    "epoch": int,
    "params": plain,
    "counters": _ints,
    "hops": int,
    "max_hops": int,
    "attempts": int,
    "max_attempts": lambda v: int(v or 0),
    "state_ref": lambda v: StateRef.from_dict(plain(v)) if v else None,
    "state_size": lambda v: int(v or 0),
    "summary": plain,
    "report_ref": lambda v: {k: str(x) for k, x in plain(v).items()} or None,
    "restarts": lambda v: int(v or 0),
    "waits": lambda v: int(v or 0),
    "lease_expires_ms": _int_or_none,
    "cancel_requested": bool,
    "pause_requested": bool,
    "pause_cascaded": bool,
    "recent_hops": _hops,
    "timing": _ints,
}


def job_from_item(item: JobModel) -> Job:
    """Decode the item; raises ValueError, TypeError, KeyError or StateCorrupt when malformed."""
    values = {}
    for f in fields(Job):
        raw = getattr(item, ATTRIBUTE_OF.get(f.name, f.name))
        decode = DECODE.get(f.name)
        values[f.name] = decode(raw) if decode is not None else raw
    return Job(**values)
