"""`python -m benchmarks`: run every figure and write docs/benchmarks.md with its plots.

python -m benchmarks                      # the full run (make bench)
python -m benchmarks --quick --out X.md   # a few seconds: the smoke test's configuration
python -m benchmarks --only overhead,latency_count   # those figures alone, full sizes; no page
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import cold_start, concurrency, durable, fanout_scaling, figures, lines, short_hops
from benchmarks.harness import Env
from benchmarks.report import (
    GOAL_RATIO,
    interval_verdict,
    plots,
    readme_block,
    render,
    update_readme,
)
from benchmarks.sizes import FULL, QUICK, BenchConfig

ROOT = Path(__file__).resolve().parent.parent


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _meta(cfg: BenchConfig, command: str) -> dict[str, Any]:
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            mem_kb = int(info.readline().split()[1])
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "handler", "store"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.split("\n")
    return {
        "dirty": sorted(line[3:] for line in dirty if line.strip()),
        "command": command,
        "config": cfg.name,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": mem_kb / 2**20,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "boto3": version("boto3"),
        "moto": version("moto"),
        "pynamodb": version("pynamodb"),
        "load_before": _load(),
    }


def run(
    cfg: BenchConfig, out: Path, img_dir: Path, command: str, readme: Path | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    meta = _meta(cfg, command)
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def step(name: str, fn: Any, *args: Any) -> None:
        t = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        results[name] = fn(*args)
        timings[name] = time.perf_counter() - t
        print(f"[bench] {name} done in {timings[name]:.1f} s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp, Env(Path(tmp)) as env:
        step("overhead", figures.relay_overhead, env, cfg)
        step("durable", durable.figure, env, cfg.durable_pairs, results["overhead"]["bucket"])
        step("cost", figures.relay_cost, env, cfg)
        step("state", figures.state_size, env, cfg)
        inline_ms = (results["state"]["rows"][0].get("inline_s") or 0.0) * 1000
        step("sweep", figures.checkpoint_sweep, env, cfg, inline_ms)
        step("writes", figures.dynamo_writes, env, cfg)
        step("handoff", figures.handoff_latency, env, cfg)
        step("scaling", figures.scaling, env, cfg)
        step("latency_io", concurrency.io_bound, env, cfg)
        step("latency_count", concurrency.count_prefetch, env, cfg)
        step("fanout", fanout_scaling.figure, env, cfg)
        step("short_hops", short_hops.for_config, env, cfg.name)
        if not cfg.name.startswith("quick"):
            step("lines", lines.figure)
        step("cold_start", cold_start.figure, cfg.cold_start_rounds)
    results["errors"] = list(figures.ERRORS)
    meta["load_after"] = _load()
    meta["wall_s"] = time.perf_counter() - started
    meta["timings"] = timings
    images = write_page(results, meta, out, img_dir, readme)
    print(f"[bench] wrote {out} in {meta['wall_s']:.0f} s", file=sys.stderr)
    return {"results": results, "meta": meta, "images": images}


# The figures that need no other figure's results: `--only` measures these alone.
ALONE: dict[str, Any] = {
    "overhead": figures.relay_overhead,
    "cost": figures.relay_cost,
    "latency_count": concurrency.count_prefetch,
}


def run_only(cfg: BenchConfig, names: list[str]) -> dict[str, Any]:
    """Measure only the named figures, each exactly as the full run does (same sizes, pairs
    and order of walks), and print their ratios with their intervals and verdicts. No page is
    written: the page's other sections would be missing."""
    load_before = _load()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp, Env(Path(tmp)) as env:
        for name in names:
            started = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name] = ALONE[name](env, cfg)
            print(f"[bench] {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results["errors"] = list(figures.ERRORS)
    meta = {"config": cfg.name, "load_before": load_before, "load_after": _load()}
    for name in names:
        fig = results[name]
        if "ratio_median" in fig:
            print(
                f"{name}: baton / best plain loop, median of {len(fig['pairs'])} pairs "
                f"{fig['ratio_median']:.1%}, 95% interval {fig['ratio_low']:.1%} to "
                f"{fig['ratio_high']:.1%}; against {GOAL_RATIO:.0%}: "
                f"{interval_verdict(fig, GOAL_RATIO)}"
            )
        if "extra_cpu_us" in fig:
            print(
                f"{name}: client CPU per object, baton {fig['relay_cpu_us']:.1f} µs, best loop "
                f"{fig['best_cpu_us']:.1f} µs (baton's extra {fig['extra_cpu_us']:.2f} µs)"
            )
        if "relay_us" in fig:
            print(
                f"{name}: baton's own CPU per object, listing taken out: {fig['relay_us']:.2f} µs"
            )
    print(
        f"load before {meta['load_before']}, after {meta['load_after']}; "
        f"errors: {results['errors']}"
    )
    return {"results": results, "meta": meta}


def write_page(
    results: dict[str, Any],
    meta: dict[str, Any],
    out: Path,
    img_dir: Path,
    readme: Path | None = None,
) -> dict[str, str]:
    """The page and its plots; with `readme`, also its generated block of headline figures."""
    out.parent.mkdir(parents=True, exist_ok=True)
    images = plots(results, img_dir)
    img_rel = os.path.relpath(img_dir, out.parent)
    page = render(results, meta, images, img_rel)
    if results.get("short_hops"):
        page += "\n" + short_hops.render(results["short_hops"])
    if "lines" in results:
        page = page.rstrip("\n") + "\n\n" + lines.markdown(results["lines"])
    if results.get("cold_start"):
        page = page.rstrip("\n") + "\n\n" + cold_start.render(results["cold_start"])
    out.write_text(page, encoding="utf-8")
    if readme is not None and not update_readme(readme, readme_block(results, meta)):
        print(f"[bench] {readme} has no generated block: not updated", file=sys.stderr)
    return images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--img-dir", type=Path, default=None, help="default: <out dir>/img")
    parser.add_argument(
        "--save", type=Path, default=None, help="also write the raw results here (JSON)"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="rewrite this README's generated block (default: README.md for the full run)",
    )
    parser.add_argument(
        "--render", type=Path, default=None, help="re-render the page from saved results only"
    )
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated figures to measure alone ({', '.join(ALONE)}), printed; no page",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(names) - set(ALONE))
        if unknown:
            parser.error(f"--only takes {', '.join(ALONE)}; not {', '.join(unknown)}")
        done = run_only(cfg, names)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(done, default=str), encoding="utf-8")
        return
    img_dir = args.img_dir or args.out.parent / "img"
    command = "make bench" if not args.quick else "python -m benchmarks --quick"
    readme = args.readme or (None if args.quick else ROOT / "README.md")
    if args.render:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        write_page(saved["results"], saved["meta"], args.out, img_dir, readme)
        return
    done = run(cfg, args.out, img_dir, command, readme)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(done, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
