"""`make bench` still works: the whole harness in its tiny configuration (timings not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks.__main__ import run
from benchmarks.config import QUICK


def test_the_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    done = run(QUICK, out, tmp_path / "docs" / "img", "python -m benchmarks --quick")

    text = out.read_text(encoding="utf-8")
    for heading in (
        "## How this page was made",
        "## Relay overhead",
        "### As a function of the checkpoint interval",
        "## DynamoDB writes",
        "## Hand-off latency",
        "## State size",
        "## Scaling",
        "## Cost model",
        "### Prices used",
        "## Fan-out scaling",
        "## Short hops",
    ):
        assert heading in text
    results = done["results"]
    # Counts, not timings: every walk saw every object, and a hop writes the item twice.
    assert results["overhead"]["pairs"][0]["relay_objects"] == QUICK.overhead_objects
    assert results["handoff"]["objects"] == QUICK.handoff_objects
    short = results["short_hops"]["rows"][0]
    assert short["relay_objects"] == short["plain_objects"] == 600
    assert short["status"] == "SUCCEEDED" and all(h["margin_ms"] for h in short["hops"][:-1])
    assert results["handoff"]["writes_per_hop"] >= 2
    assert [r["update_item"] for r in results["writes"]["by_size"]] == [2] * len(QUICK.writes_sizes)
    if importlib.util.find_spec("matplotlib") is not None:
        assert done["images"], "matplotlib is installed, so the plots must be written"
        for name in done["images"].values():
            assert (tmp_path / "docs" / "img" / name).stat().st_size > 0
            assert f"img/{name}" in text
