"""`make chaos`: simulated schedules until a count or a time budget, then the count.

    python -m tests.sim.chaos                    # CHAOS_SCHEDULES=100000, or CHAOS_SECONDS
    python -m tests.sim.chaos --seconds 600 --jobs 2 --task mixed
    python -m tests.sim.chaos --schedules 200 --task s3-fanout   # a fan-out parent and shards
    python -m tests.sim.chaos --task count       # built-in count, a page a step (count-fanout)

Every schedule runs with every fault kind on. Seeds are `seed_base + i`; a schedule that breaks
an invariant is shrunk and printed with a replay line, and the run exits 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from itertools import count

from moto import mock_aws

from tests.sim.chooser import RandomChooser
from tests.sim.core import Rates
from tests.sim.scenario import COUNT, COUNT_FANOUT, FAN_TASK, FANOUT, Config, Env, run_schedule
from tests.sim.sweep import minimise

TASKS = ("sim-count", "s3-walk")
# s3-walk and s3-fanout with the built-in count (tests/sim/count_walk.py).
COUNTING = {"count": COUNT, "count-fanout": COUNT_FANOUT}


def config_for(task: str, seed: int, spill: bool) -> Config:
    """A third of the schedules spill their state to S3 (all of them with --spill)."""
    if task in COUNTING:
        return replace(COUNTING[task], spill=1.0 if spill else 0.3)
    if task == FAN_TASK:
        return replace(FANOUT, spill=1.0 if spill else 0.3)
    chosen = TASKS[seed % 2] if task == "mixed" else task
    return Config(task=chosen, spill=1.0 if spill else 0.3, rates=Rates())


def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.seconds if args.seconds else None
    stats: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    done = 0
    started = time.monotonic()
    with mock_aws():
        env = Env.create()
        for i in count():
            if done >= args.schedules or (deadline is not None and time.monotonic() >= deadline):
                break
            seed = args.seed_base + args.worker + i * args.stride
            config = config_for(args.task, seed, args.spill)
            report = run_schedule(env, RandomChooser(seed), config)
            done += 1
            stats.update(report.stats)
            statuses[str(report.summary.get("status"))] += 1
            if not report.ok:
                print(f"seed {seed}: violation after {done} schedules", flush=True)
                print(report.describe(tail=40), flush=True)
                small = minimise(env, report, budget=300)
                print("\nshrunk:\n" + small.describe(tail=120), flush=True)
                print(f"CHAOS {done} schedules, 1 violation (seed {seed})", flush=True)
                return 1
            if done % 500 == 0:
                rate = done / (time.monotonic() - started)
                print(f"  {done} schedules, no violation ({rate:.1f}/s)", flush=True)
    elapsed = time.monotonic() - started
    print(f"faults struck: {dict(sorted(stats.items()))}")
    print(f"final statuses: {dict(statuses)}")
    print(f"CHAOS {done} schedules in {elapsed:.0f}s, 0 violations", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.chaos", description=__doc__)
    env_seconds = os.environ.get("CHAOS_SECONDS")
    parser.add_argument(
        "--schedules", type=int, default=int(os.environ.get("CHAOS_SCHEDULES", "100000"))
    )
    parser.add_argument("--seconds", type=float, default=float(env_seconds or 0) or None)
    parser.add_argument("--seed-base", type=int, default=int(os.environ.get("CHAOS_SEED", "0")))
    parser.add_argument("--task", choices=(*TASKS, FAN_TASK, *COUNTING, "mixed"), default="mixed")
    parser.add_argument(
        "--spill",
        action="store_true",
        help="spill every state to S3 (by default a third of the schedules do)",
    )
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("CHAOS_JOBS", "1")))
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stride", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs <= 1:
        return run(args)
    return fan_out(args)


def fan_out(args: argparse.Namespace) -> int:
    """Run `--jobs` worker processes over interleaved seeds and add up their counts."""
    per = -(-args.schedules // args.jobs)
    procs = []
    for worker in range(args.jobs):
        cmd = [
            sys.executable,
            "-m",
            "tests.sim.chaos",
            "--schedules",
            str(per),
            "--seed-base",
            str(args.seed_base),
            "--task",
            args.task,
            "--worker",
            str(worker),
            "--stride",
            str(args.jobs),
            "--jobs",
            "1",
        ]
        if args.seconds:
            cmd += ["--seconds", str(args.seconds)]
        if args.spill:
            cmd.append("--spill")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    total, failed = 0, False
    for proc in procs:
        out, _ = proc.communicate()
        sys.stdout.write(out)
        failed |= proc.returncode != 0
        for line in out.splitlines():
            if line.startswith("CHAOS "):
                total += int(line.split()[1])
    print(
        f"CHAOS TOTAL {total} schedules over {args.jobs} processes, "
        f"{'a violation' if failed else '0 violations'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
