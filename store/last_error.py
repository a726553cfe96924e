"""How an error message is fitted into the job's `last_error` (LAST_ERROR_LIMIT_CHARS at most).

Every message written there is cut here, in one way: the head is kept and marked as cut, so the
exception's first line (what failed) survives and a reader sees that something is missing.
"""

from __future__ import annotations

from baton.store.constants import LAST_ERROR_LIMIT_CHARS

TRUNCATED = " ...[truncated]"
# Room kept for the prefix the store puts before a failed attempt's error ("attempt 3 of 3
# failed: "): a message cut to fit with its advice still fits once the store prefixes it.
ATTEMPT_PREFIX_ROOM = 100


def cut(text: str, limit: int = LAST_ERROR_LIMIT_CHARS) -> str:
    """`text` itself when it fits in `limit` characters, else its head marked as cut (`limit`
    characters in all)."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATED)] + TRUNCATED


def with_advice(error: str, advice: str) -> str:
    """`error` cut so that it, `advice` after it and the store's attempt prefix before it all
    fit in `last_error`: the advice (what to do next) is never the part that is cut."""
    room = LAST_ERROR_LIMIT_CHARS - len(advice) - ATTEMPT_PREFIX_ROOM
    return cut(error, room) + advice


def failed_attempt(attempts: int, max_attempts: int, error: str) -> str:
    """The last_error of an attempt released for a retry."""
    return cut(f"attempt {attempts} of {max_attempts}: {error}")


def last_attempt(attempts: int, max_attempts: int, error: str) -> str:
    """Why a job failed on its last attempt (cut when written, as every failure's error is)."""
    return f"attempt {attempts} of {max_attempts} failed: {error}"
