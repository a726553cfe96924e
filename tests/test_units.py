"""Byte sizes print in base 1024 under the names of base 1024; durations coarsen with length."""

from __future__ import annotations

import pytest

from baton.store.units import duration, human_bytes


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (1023, "1,023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024**2, "1.0 MiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**4, "3.0 TiB"),
        (2048 * 1024**4, "2,048.0 TiB"),
        (-2048, "-2.0 KiB"),
    ],
)
def test_human_bytes_uses_binary_units_named_as_such(n: int, shown: str) -> None:
    assert human_bytes(n) == shown


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (-5, "0s"),
        (119_999, "119s"),
        (120_000, "2m00s"),
        (7_199_000, "119m59s"),
        (7_260_000, "2h01m"),
    ],
)
def test_duration_coarsens_with_length(ms: int, shown: str) -> None:
    assert duration(ms) == shown
