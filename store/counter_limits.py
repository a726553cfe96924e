"""The bound on a job's counters map, checked before every write that commits it."""

from __future__ import annotations

from collections.abc import Mapping

from baton.store.constants import COUNTERS_LIMIT_BYTES, MAX_COUNTER_NAMES
from baton.store.errors import CountersTooLarge

# DynamoDB sizes a map as 3 bytes, plus per entry its name's UTF-8 length, 1 byte, and the number
# (about 1 byte per 2 significant digits, plus 1; Developer Guide, "Item sizes and formats").
MAP_OVERHEAD_BYTES = 3
ENTRY_OVERHEAD_BYTES = 1


def counters_size(counters: Mapping[str, int]) -> int:
    """DynamoDB's size of the counters map, in bytes."""
    size = MAP_OVERHEAD_BYTES
    for name, value in counters.items():
        digits = len(str(abs(int(value)))) or 1
        size += len(name.encode()) + ENTRY_OVERHEAD_BYTES + (digits + 1) // 2 + 1
    return size


def check_counters(job_id: str, counters: Mapping[str, int]) -> None:
    """Raise CountersTooLarge, naming the limit, when `counters` is past what the item keeps."""
    names = len(counters)
    size = counters_size(counters) if names <= MAX_COUNTER_NAMES else None
    if names <= MAX_COUNTER_NAMES and size is not None and size <= COUNTERS_LIMIT_BYTES:
        return
    measured = f"{names:,} counter names" + (f" ({size:,} bytes)" if size is not None else "")
    raise CountersTooLarge(
        f"job {job_id!r} counts {measured}: a job keeps at most {MAX_COUNTER_NAMES:,} counter "
        f"names and {COUNTERS_LIMIT_BYTES // 1024} KB of counters on its item (DynamoDB items "
        f"are limited to 400 KB, and the counters are written with every checkpoint). Keep "
        f"per-tenant or per-key totals in the task's state (spilled to S3 when large) and count "
        f"only a few names",
        job_id=job_id,
    )
