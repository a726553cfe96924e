"""Durations and byte sizes as a person reads them, in one place.

They live at the bottom of the tree because the store's own messages use them (a health
verdict's "queued 5m03s ago" is what the watchdog writes into a stalled job's error), and the
CLI and the local demo print the same units: bytes in base 1024, labelled KiB, MiB, GiB.
"""

from __future__ import annotations


def duration(ms: int) -> str:
    """`95s`, `12m05s`, `3h07m`: whole seconds up to two minutes, then coarser."""
    s = max(0, ms) // 1000
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def human_bytes(n: float) -> str:
    """`512 B`, `1.5 KiB`, `2.0 MiB`: powers of 1024, named as such."""
    if abs(n) < 1024:
        return f"{n:,.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if abs(n) < 1024:
            return f"{n:,.1f} {unit}"
    return f"{n / 1024:,.1f} TiB"
