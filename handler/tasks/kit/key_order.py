"""S3 key order: where a listing must start so that it begins exactly at an inclusive key.

ListObjectsV2 lists keys in UTF-8 binary order and takes `StartAfter` exclusively. A walk that
starts *at* a key (a fan-out shard's `start_at`) must therefore list after the greatest key
that sorts below it. The shorter string `start_at[:-1]` is below it too, but far below: every
key between the two is listed and dropped, and with `data/` beside `data-backup/` (`-` sorts
before `/`) that gap is the whole of `data-backup/`, millions of keys before the first one the
shard owns. `key_before` computes the exact lower neighbour instead, so the first page starts
at the shard's first key.

Python compares `str` by code point, which is the same order as comparing their UTF-8 bytes
(UTF-8 was designed to preserve it), so the arithmetic below works on code points.
"""

from __future__ import annotations

# S3 object keys are at most 1,024 bytes of UTF-8 (Amazon S3 User Guide, "Naming Amazon S3
# objects": "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at
# most 1,024 bytes long").
MAX_KEY_BYTES = 1_024

# The greatest code point with a UTF-8 encoding of each length, among the characters an S3
# listing can return in its XML answer (XML 1.0 `Char`: U+FFFE and U+FFFF are not characters,
# so the greatest 3-byte one is U+FFFD). A key built of these sorts after every other key of the
# same length in bytes.
_LARGEST_BY_LENGTH = {1: "\x7f", 2: "\u07ff", 3: "\ufffd", 4: "\U0010ffff"}
_SURROGATES = range(0xD800, 0xE000)


def _previous_char(char: str) -> str | None:
    """The code point just below `char` that UTF-8 can encode (surrogates cannot), or None."""
    point = ord(char) - 1
    if point in _SURROGATES:
        point = _SURROGATES.start - 1
    return chr(point) if point >= 0 else None


def key_before(key: str) -> str | None:
    """The greatest S3 key (at most MAX_KEY_BYTES of UTF-8) that sorts strictly before `key`,
    or None when no key does (`key` is empty or the single character U+0000).

    Listing with `StartAfter=key_before(key)` returns `key` (or the first key after it) first:
    no key below `key` is listed, and none at or above it is skipped. The one gap, by design:
    keys made of the padding below followed by U+FFFE or U+FFFF, which an XML listing cannot
    carry anyway.
    """
    if not key:
        return None
    head, last = key[:-1], key[-1]
    lower = _previous_char(last)
    if lower is None:
        # Nothing sorts between `head` and `head + U+0000`: `head` itself is the neighbour.
        return head or None
    below = head + lower
    # Every key that starts with `below` sorts before `key`; the greatest of them is `below`
    # padded with the largest characters that fit in the bytes a key has left.
    room = MAX_KEY_BYTES - len(below.encode())
    if room < 0:
        raise ValueError(f"key is longer than {MAX_KEY_BYTES} bytes of UTF-8")
    whole, rest = divmod(room, 4)
    padding = _LARGEST_BY_LENGTH[4] * whole + (_LARGEST_BY_LENGTH[rest] if rest else "")
    return below + padding
