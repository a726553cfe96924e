"""Synthetic S3 key spaces, generated lazily and answered in UTF-8 binary order.

A bucket of 100 million keys is never stored. It is a list of `Segment`s: each one is a family
of keys `head + digits(i) + tail` for i in range(count), where `digits` is i written with a fixed
width (optionally cut into groups by "/", which makes a deep tree). Fixed-width digits make
key(i) increase with i, so a segment is a sorted run that can be searched by bisection, and the
segments, whose key ranges never overlap, are kept in key order. ListObjectsV2's StartAfter,
ContinuationToken, Prefix, Delimiter and MaxKeys are answered from that arithmetic: a page
costs O(page + log(keys)) work, never O(keys).

Python compares str by code point, which is the order of their UTF-8 bytes (the order S3 lists
in), so `-` (0x2D) and `.` (0x2E) sort before `/` (0x2F) here exactly as on S3.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_KEYS = 1_000
MAX_KEY_BYTES = 1_024
BLOCK_DIGITS = 3
BLOCK = 10**BLOCK_DIGITS
LAST_MODIFIED = datetime(2026, 1, 1, tzinfo=UTC)
ETAG = '"0123456789abcdef0123456789abcdef"'


class KeySpaceError(ValueError):
    """A spec that is not a valid S3 key space (overlapping segments, keys over 1,024 bytes)."""


@dataclass(frozen=True)
class Segment:
    """`count` keys `head + digits(i) + tail`, sizes `size_base + (i * 7919) % size_span`."""

    head: str
    count: int
    tail: str = ".bin"
    # Digits per path level: (4, 3) writes i as "0012/345"; () means one group wide enough.
    groups: tuple[int, ...] = ()
    size_base: int = 1
    size_span: int = 4_096

    def __post_init__(self) -> None:
        widths = self.groups or (max(1, len(str(max(0, self.count - 1)))),)
        object.__setattr__(self, "widths", widths)
        if len(widths) == 1:
            template = self.head.replace("{", "{{").replace("}", "}}")
            template += (
                "{:0" + str(widths[0]) + "d}" + self.tail.replace("{", "{{").replace("}", "}}")
            )
            object.__setattr__(self, "key", template.format)
            if widths[0] > BLOCK_DIGITS:
                tails = [f"{j:0{BLOCK_DIGITS}d}{self.tail}" for j in range(BLOCK)]
                object.__setattr__(self, "_tails", tails)

    widths: tuple[int, ...] = field(init=False, repr=False, compare=False, default=())
    # One group of more than BLOCK_DIGITS digits: the last digits and the tail of each key in a
    # block of BLOCK consecutive keys (a page's keys share the head of their digits).
    _tails: list[str] | None = field(init=False, repr=False, compare=False, default=None)

    def keys(self, start: int, stop: int) -> list[str]:
        """key(i) for i in range(start, stop), built a block at a time (a listing's hot path:
        formatting each key whole cost most of the twin's time per page)."""
        tails = self._tails
        if tails is None:
            return [self.key(i) for i in range(start, stop)]
        high = self.widths[0] - BLOCK_DIGITS
        out: list[str] = []
        i = start
        while i < stop:
            block, at = divmod(i, BLOCK)
            n = min(stop - i, BLOCK - at)
            head = f"{self.head}{block:0{high}d}"
            out += [head + t for t in tails[at : at + n]]
            i += n
        return out

    def key(self, i: int) -> str:
        """The i-th key (replaced by a bound str.format for one group: the hot path)."""
        digits = f"{i:0{sum(self.widths)}d}"
        parts, at = [], 0
        for w in self.widths:
            parts.append(digits[at : at + w])
            at += w
        return self.head + "/".join(parts) + self.tail

    def size(self, i: int) -> int:
        return self.size_base + (i * 7919) % self.size_span

    def total_bytes(self) -> int:
        """The sum of every size, in O(size_span): 7919 is prime, so each full run of
        `size_span` consecutive i (span not a multiple of 7919) covers every residue once."""
        span = self.size_span
        full, rest = divmod(self.count, span)
        total = self.size_base * self.count + full * (span * (span - 1) // 2)
        start = full * span
        return total + sum((i * 7919) % span for i in range(start, start + rest))

    def first(self) -> str:
        return self.key(0)

    def last(self) -> str:
        return self.key(self.count - 1)

    def first_at_or_after(self, key: str, strict: bool) -> int:
        """The smallest i with key(i) >= key (> key when strict), by bisection."""
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            k = self.key(mid)
            if k < key or (strict and k == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def end_of_prefix(self, prefix: str, start: int) -> int:
        """The first i >= start whose key does not start with `prefix` (keys from `start` on
        that do are contiguous: every key with the prefix sorts in one run)."""
        lo, hi = start, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if self.key(mid).startswith(prefix):
                lo = mid + 1
            else:
                hi = mid
        return lo


@dataclass
class KeySpace:
    """A bucket's keys: segments in key order, none overlapping another."""

    segments: list[Segment]
    _firsts: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.segments = sorted((s for s in self.segments if s.count > 0), key=Segment.first)
        self._firsts = [s.first() for s in self.segments]
        for a, b in zip(self.segments, self.segments[1:], strict=False):
            if a.last() >= b.first():
                raise KeySpaceError(f"segments overlap: {a.last()!r} >= {b.first()!r}")
        for s in self.segments:
            for k in (s.first(), s.last()):
                if len(k.encode()) > MAX_KEY_BYTES:
                    raise KeySpaceError(f"key of {len(k.encode())} bytes: {k[:60]!r}...")

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)

    def total_bytes(self) -> int:
        return sum(s.total_bytes() for s in self.segments)

    def key_at(self, index: int) -> str:
        """The key at position `index` of the whole sorted key space."""
        for seg in self.segments:
            if index < seg.count:
                return seg.key(index)
            index -= seg.count
        raise IndexError("key space index out of range")

    def count_in(self, low: str | None, high: str | None, prefix: str = "") -> int:
        """Keys k with low <= k < high that start with `prefix` (None: unbounded)."""
        total = 0
        for seg in self.segments:
            start = 0 if low is None else seg.first_at_or_after(low, strict=False)
            end = seg.count if high is None else seg.first_at_or_after(high, strict=False)
            if prefix:
                p0 = seg.first_at_or_after(prefix, strict=False)
                p1 = seg.end_of_prefix(prefix, p0)
                start, end = max(start, p0), min(end, p1)
            total += max(0, end - start)
        return total

    def _from(self, after: str | None) -> Iterator[tuple[Segment, int]]:
        """(segment, first index) of each segment holding keys > after, in order."""
        index = 0 if after is None else max(0, bisect.bisect_right(self._firsts, after) - 1)
        for seg in self.segments[index:]:
            start = 0 if after is None else seg.first_at_or_after(after, strict=True)
            if start < seg.count:
                yield seg, start

    def list_objects_v2(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListObjectsV2's answer (the parsed shape botocore returns) for `params`."""
        prefix: str = params.get("Prefix") or ""
        delimiter: str = params.get("Delimiter") or ""
        max_keys = min(MAX_KEYS, int(params.get("MaxKeys", MAX_KEYS)))
        after: str | None = params.get("StartAfter") or None
        token = params.get("ContinuationToken")
        if token:
            after = _decode(token)
        if prefix and (after is None or after < prefix):
            after = _before(prefix)
        contents: list[dict[str, Any]] = []
        prefixes: list[dict[str, str]] = []
        last: str | None = None
        truncated = False
        if max_keys > 0:
            contents, prefixes, last, truncated = self._page(prefix, delimiter, max_keys, after)
        reply: dict[str, Any] = {
            "IsTruncated": truncated,
            "KeyCount": len(contents) + len(prefixes),
            "MaxKeys": max_keys,
            "Prefix": prefix,
            "Name": params.get("Bucket", ""),
        }
        if contents:
            reply["Contents"] = contents
        if prefixes:
            reply["CommonPrefixes"] = prefixes
        if delimiter:
            reply["Delimiter"] = delimiter
        if params.get("StartAfter"):
            reply["StartAfter"] = params["StartAfter"]
        if truncated and last is not None:
            reply["NextContinuationToken"] = _encode(last)
        return reply

    def _page(
        self, prefix: str, delimiter: str, max_keys: int, after: str | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]], str | None, bool]:
        contents: list[dict[str, Any]] = []
        prefixes: list[dict[str, str]] = []
        last: str | None = None
        room = max_keys
        for seg, first in self._from(after):
            start, end = first, seg.count
            if prefix:
                start = max(first, seg.first_at_or_after(prefix, strict=False))
                if start >= seg.count:
                    continue
                if not seg.key(start).startswith(prefix):
                    return contents, prefixes, last, False  # past the prefix: nothing more
                end = seg.end_of_prefix(prefix, start)
            i = start
            while i < end:
                if room == 0:
                    return contents, prefixes, last, True
                if delimiter:
                    key = seg.key(i)
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[: cut + len(delimiter)]
                        if not prefixes or prefixes[-1]["Prefix"] != common:
                            prefixes.append({"Prefix": common})
                            room -= 1
                        last = _after_prefix(common)
                        i = seg.end_of_prefix(common, i)
                        if i >= seg.count:
                            break
                        continue
                take = min(end, i + room)
                if delimiter:
                    # Only up to the next key that holds the delimiter after the prefix.
                    take = _plain_run(seg, i, take, prefix, delimiter)
                contents.extend(_entries(seg, i, take))
                last = seg.key(take - 1)
                room -= take - i
                i = take
        return contents, prefixes, last, False


def _plain_run(seg: Segment, start: int, stop: int, prefix: str, delimiter: str) -> int:
    """The end of the run of keys from `start` holding no delimiter after the prefix (at least
    start + 1: the caller checked seg.key(start))."""
    i = start + 1
    while i < stop and seg.key(i).find(delimiter, len(prefix)) < 0:
        i += 1
    return i


def _entries(seg: Segment, start: int, stop: int) -> list[dict[str, Any]]:
    base, span = seg.size_base, seg.size_span
    return [
        {
            "Key": key,
            "LastModified": LAST_MODIFIED,
            "ETag": ETAG,
            "Size": base + (i * 7919) % span,
            "StorageClass": "STANDARD",
        }
        for i, key in zip(range(start, stop), seg.keys(start, stop), strict=True)
    ]


def _before(prefix: str) -> str | None:
    """A StartAfter that lists from the first key with `prefix`: everything below it sorts
    before the prefix itself, so the longest string strictly below is enough: the prefix less
    its last character (shorter sorts first)."""
    return prefix[:-1] or None


def _after_prefix(common: str) -> str:
    """A marker past every key under `common`: the prefix followed by the highest code point."""
    return common + "\U0010ffff"


def _encode(last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(last).encode()).decode()


def _decode(token: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as exc:
        raise KeySpaceError("The continuation token provided is incorrect") from exc
    if not isinstance(value, str):
        raise KeySpaceError("The continuation token provided is incorrect")
    return value
