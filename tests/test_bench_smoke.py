"""`make bench` still works: the whole harness in its tiny configuration (timings not asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks.__main__ import run
from benchmarks.figures import median_interval
from benchmarks.report import README_BEGIN, README_END, update_readme
from benchmarks.sizes import QUICK


def test_the_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    done = run(QUICK, out, tmp_path / "docs" / "img", "python -m benchmarks --quick")

    text = out.read_text(encoding="utf-8")
    for heading in (
        "## How this page was made",
        "## Relay overhead",
        "### The durable-functions peer",
        "## With S3 latency",
        "### What AWS adds",
        "### As a function of the checkpoint interval",
        "## DynamoDB writes",
        "## Hand-off latency",
        "## State size",
        "## Scaling",
        "## Cost model",
        "### Prices used",
        "## Fan-out scaling",
        "## Short hops",
        "## Cold start",
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
    cold = {row["kind"]: row for row in results["cold_start"]["rows"]}
    assert set(cold) == {"baseline", "worker", "watchdog"}, "each INIT ran in its own process"
    assert [r["update_item"] for r in results["writes"]["by_size"]] == [2] * len(QUICK.writes_sizes)
    if importlib.util.find_spec("matplotlib") is not None:
        assert done["images"], "matplotlib is installed, so the plots must be written"
        for name in done["images"].values():
            assert (tmp_path / "docs" / "img" / name).stat().st_size > 0
            assert f"img/{name}" in text


def test_the_readme_block_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{README_BEGIN}\nstale 22 ms\n{README_END}\nafter\n", encoding="utf-8"
    )

    assert update_readme(readme, f"{README_BEGIN}\nfresh\n{README_END}")
    assert (
        readme.read_text(encoding="utf-8") == f"intro\n{README_BEGIN}\nfresh\n{README_END}\nafter\n"
    )
    plain = tmp_path / "OTHER.md"
    plain.write_text("no markers\n", encoding="utf-8")
    assert not update_readme(plain, "x")
    assert plain.read_text(encoding="utf-8") == "no markers\n"


def test_the_median_interval_covers_at_least_95_percent() -> None:
    values = [float(v) for v in range(16)]
    # 16 pairs: ranks 4 and 13 (1-based) cover the median with 97.9% (ranks 5-12: 92.3%)
    assert median_interval(values) == (3.0, 12.0)
    assert median_interval([2.0, 1.0, 3.0]) == (1.0, 3.0)  # too few for 95%: the whole range
