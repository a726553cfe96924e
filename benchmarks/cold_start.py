"""Cold start: the INIT of a worker and of the watchdog (module import and client set-up), each
in a fresh process, side by side with a bare `import boto3` and one client.

python -m benchmarks.cold_start [--rounds N]

Lambda runs a function's INIT (importing the handler's module, which builds the clients at
module level) before the first invocation of a new sandbox, billed and, for the watchdog at
256 MB, slow. Each round starts one fresh interpreter per kind, in a rotating order, and each
child times only its own import and set-up (the interpreter's start-up is the runtime's, the
same for every function). Bytecode is cached by one warm-up run of each kind first, as a
package built with bytecode ships it. No request leaves the children: the endpoints point at a
closed local port and nothing is called.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROUNDS = 15
# The worker's INIT target on the bench machine (import and clients, bytecode cached).
TARGET_MS = 500.0

_TIMED = """
import json, time
started, cpu = time.perf_counter(), time.process_time()
{body}
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({{"ms": wall * 1000, "cpu_ms": cpu * 1000}}))
"""

KINDS: dict[str, str] = {
    # What any boto3 function pays at least: the SDK and one client.
    "baseline": 'import boto3\nboto3.session.Session().client("s3")',
    # The worker: importing the handler module builds its runtime (AWS_LAMBDA_FUNCTION_NAME set).
    "worker": (
        "import baton.handler.app\n"
        "from baton.handler import runtime\n"
        'assert runtime._current is not None, "the runtime was not built at INIT"'
    ),
    # The watchdog: its handler module, then the clients it uses (store and Lambda only).
    "watchdog": (
        "import baton.handler.watchdog\n"
        "from baton.handler.runtime import get_watchdog_runtime\n"
        "get_watchdog_runtime()"
    ),
}


def child_env() -> dict[str, str]:
    """A sandbox's environment: Lambda's variables, dummy credentials, no profile, no network."""
    nowhere = "http://127.0.0.1:9"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BATON_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "baton-worker",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": nowhere,
            "BATON_TABLE": "baton-jobs",
            "BATON_STATE_BUCKET": "baton-state",
            "POWERTOOLS_SERVICE_NAME": "baton",
            "POWERTOOLS_METRICS_NAMESPACE": "Baton",
        }
    )
    return env


def measure(kind: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh interpreter: the wall and CPU milliseconds its import and set-up of `kind`
    took (on a busy machine the wall time waits for a core; the CPU time is about what the wall
    time is on an idle one)."""
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(body=KINDS[kind])],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} INIT failed: {done.stderr.strip()[-2000:]}")
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {"ms": float(times["ms"]), "cpu_ms": float(times["cpu_ms"])}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def figure(rounds: int = ROUNDS) -> dict[str, Any]:
    env = child_env()
    kinds = list(KINDS)
    for kind in kinds:
        measure(kind, env)  # writes any missing bytecode; not counted
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    load_before = _load()
    for n in range(rounds):
        order = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]
        for kind in order:
            samples[kind].append(measure(kind, env))
    rows: list[dict[str, Any]] = []
    base = statistics.median(s["ms"] for s in samples["baseline"])
    for kind in kinds:
        values = sorted(s["ms"] for s in samples[kind])
        quartiles = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
        median = statistics.median(values)
        rows.append(
            {
                "kind": kind,
                "median_ms": median,
                "min_ms": values[0],
                "max_ms": values[-1],
                "q1_ms": quartiles[0],
                "q3_ms": quartiles[2],
                "cpu_ms": statistics.median(s["cpu_ms"] for s in samples[kind]),
                "over_baseline": median / base if base else None,
            }
        )
    worker = next(r for r in rows if r["kind"] == "worker")
    return {
        "rounds": rounds,
        "rows": rows,
        "target_ms": TARGET_MS,
        "met": worker["median_ms"] <= TARGET_MS,
        "met_cpu": worker["cpu_ms"] <= TARGET_MS,
        "load": f"{load_before} -> {_load()}",
        "python": sys.version.split()[0],
    }


def render(result: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md."""
    verdict = "met" if result["met"] else "not met"
    cpu_verdict = "met" if result.get("met_cpu") else "not met"
    out = [
        "## Cold start: INIT of the worker and the watchdog\n",
        f"Module import and client set-up, each in a fresh interpreter with bytecode cached, "
        f"{result['rounds']} rounds in rotating order (Python {result['python']}, load average "
        f"{result['load']}). Target: the worker's median at most {result['target_ms']:.0f} ms "
        f"on this machine: **{verdict}** on the wall clock, **{cpu_verdict}** in CPU time (what "
        f"the wall time is on an idle core: with the load above, a process mostly waits for "
        f"one). The baseline is a bare `import boto3` and one S3 "
        f"client. The worker builds one botocore session and three clients from it (the job "
        f"table's, S3 and Lambda; a client for the user's own tables only when a task asks); "
        f"the watchdog two (the job table's and Lambda).\n",
        "| INIT | median ms | quartiles ms | min - max ms | median CPU ms | median / baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        ratio = row["over_baseline"]
        out.append(
            f"| {row['kind']} | {row['median_ms']:.0f} | {row['q1_ms']:.0f} - "
            f"{row['q3_ms']:.0f} | {row['min_ms']:.0f} - {row['max_ms']:.0f} | "
            f"{row['cpu_ms']:.0f} | {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--save", type=Path, default=None, help="also write the result (JSON)")
    args = parser.parse_args(argv)
    result = figure(args.rounds)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(render(result))


if __name__ == "__main__":
    main()
