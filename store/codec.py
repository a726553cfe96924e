"""The task state codec: JSON, compressed with zlib, inline on the item below a fixed budget.

Spilling larger states to S3 builds on this module (the item then holds a pointer instead).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from store.constants import STATE_INLINE_LIMIT_BYTES
from store.errors import BatonError, StateCorrupt, StateTooLarge

CODEC_JSON_ZLIB = "json+zlib"


@dataclass(frozen=True)
class EncodedState:
    blob: bytes
    codec: str
    raw_size: int


def to_json_bytes(value: Any) -> bytes:
    """Canonical JSON: the same state always gives the same bytes."""
    try:
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise BatonError(
            f"task state must be JSON (dicts, lists, str, int, float, bool): {exc}"
        ) from exc


def encode_state(state: Any, limit: int = STATE_INLINE_LIMIT_BYTES) -> EncodedState:
    raw = to_json_bytes(state)
    blob = zlib.compress(raw, 6)
    if len(blob) > limit:
        raise StateTooLarge(
            f"task state is {len(raw):,} bytes ({len(blob):,} compressed), over the inline "
            f"limit of {limit:,} compressed bytes (STATE_INLINE_LIMIT_BYTES)"
        )
    return EncodedState(blob=blob, codec=CODEC_JSON_ZLIB, raw_size=len(raw))


def decode_state(blob: bytes, codec: str | None) -> Any:
    if codec != CODEC_JSON_ZLIB:
        raise StateCorrupt(f"unknown state codec {codec!r}; expected {CODEC_JSON_ZLIB!r}")
    try:
        return json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateCorrupt(f"stored state cannot be decoded ({CODEC_JSON_ZLIB}): {exc}") from exc
