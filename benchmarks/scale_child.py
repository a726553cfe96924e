"""One walk in a fresh process, for the scaling figure: `python -m benchmarks.scale_child URL
BUCKET relay|plain|raw`. Prints one JSON line: objects, wall and CPU seconds, and memory (peak
RSS sampled every 10 ms during the walk, and the RSS just before it)."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from baton.store.records import JobStatus
from benchmarks.harness import Env, RelayRunner, plain_walk, raw_listing

PAGE = 4096


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())


def main() -> None:
    url, bucket, mode = sys.argv[1:4]
    env = Env(Path(tempfile.gettempdir()), url=url)
    runner = RelayRunner(env)
    env.s3.list_objects_v2(Bucket=bucket, MaxKeys=1)  # connections made, clients built
    runner.store.find("warm-up")  # pynamodb reads the table's schema once per process
    job = runner.start(bucket)
    before = rss_mb()
    sampler = PeakSampler()
    sampler.start()
    cpu = time.process_time()
    started = time.perf_counter()
    errors: list[str] = []
    if mode == "relay":
        result = runner.run(job)
        errors = list(result.errors)
        if result.job.status is not JobStatus.SUCCEEDED:
            errors.append(f"job {result.job.status.value}: {result.job.last_error}")
        objects = result.job.counters.get("objects", 0)
    elif mode == "plain":
        objects = plain_walk(env.s3, bucket).objects
    else:
        objects = raw_listing(env.s3, bucket).objects
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    sampler.stop.set()
    sampler.join()
    print(
        json.dumps(
            {
                "objects": objects,
                "seconds": seconds,
                "cpu_s": cpu_s,
                "rss_before_mb": before,
                "rss_peak_mb": max(sampler.peak, rss_mb()),
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
