"""Sizes of the full run (`make bench`) and of the smoke run (`--quick`, a few seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

KB = 1_000
MB = 1_000_000


@dataclass(frozen=True)
class BenchConfig:
    name: str = "full"
    # relay vs plain loop: alternating pairs over one bucket. 20,000 objects (about 2 s): a job's
    # own writes (the claim's read, the claim, the finish: about 13 ms on moto) are about 1% of
    # it, as they are a far smaller share of any real hop; they are measured on their own too
    # (`job_cost_*`, a one-object job against the best loop on one object).
    overhead_objects: int = 20_000
    # At least 15 for the median's 95% interval; 32 because one walk's rate drifts about 2.5%
    # from the next on these shared cores (two best loops back to back differ by 3.3%, the
    # standard deviation of 16 such pairs), which leaves the interval about +-1.6% wide.
    overhead_pairs: int = 32
    # the relay's own CPU per object, listing taken out (in-memory pages; the claim and the
    # finish still go to the server)
    cost_sizes: tuple[int, int] = (1_000, 3_000)
    cost_reps: int = 9
    # checkpoint-interval sweep
    sweep_objects: int = 5_000
    sweep_intervals_s: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
    sweep_pairs: int = 2
    # DynamoDB writes: a chain of short hops, then single hops of growing buckets
    writes_objects: int = 10_000
    writes_hop_ms: int = 2_500
    writes_margin_ms: int = 1_000
    writes_checkpoint_s: float = 0.5
    writes_max_hops: int = 60
    writes_sizes: tuple[int, ...] = (1_000, 10_000, 30_000)
    # state size
    # the largest stays under the state cap (baton.store.constants.STATE_MAX_BYTES, 64 MiB)
    state_sizes: tuple[int, ...] = (1 * KB, 10 * KB, 100 * KB, 1 * MB, 10 * MB, 60 * MB)
    # scaling, each walk in a fresh process
    scale_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    scale_modes: tuple[str, ...] = ("relay", "plain", "raw")
    # hand-off latency on the local Lambda service
    handoff_objects: int = 600
    handoff_sleep_ms: float = 40
    handoff_timeout_ms: int = 3_000  # a cold worker's imports on a loaded machine fit
    handoff_margin_ms: int = 1_200
    handoff_warmup: int = 3
    handoff_timeout_s: float = 60
    handoff_chains: int = 3
    handoff_import_reps: int = 5
    fanout_objects: int = 800  # each shard walks them one at a time (`concurrency` 1)
    fanout_widths: tuple[int, ...] = (1, 2, 4, 8)
    # S3 latency injected in the server (uniform, ms): I/O-bound action at growing concurrency,
    # and `count` with listing prefetch against the plain loop
    latency_ms: tuple[float, float] = (20, 50)
    latency_objects: int = 250  # concurrency 1 and the plain loop (about 10 s each)
    latency_objects_max: int = 8_000  # concurrency N tags N x latency_objects, up to this
    latency_concurrency: tuple[int, ...] = (1, 4, 16, 32)
    # rounds of every concurrency in turn: a speed-up is a ratio within one round, the verdict
    # is on the median round (a slow minute on this shared machine strikes a round, not all)
    latency_rounds: int = 5
    latency_saturate_threads: int = 64  # plain threads that find the server's limit
    latency_count_objects: int = 10_000  # 10 pages: a walk of about 2 s
    latency_count_pairs: int = 21  # alternating pairs: the median's 95% interval
    # the durable-functions peer (local test runner) on the same bucket as the overhead figure
    durable_pairs: int = 7  # alternating with the plain loop: 7 give a 95% interval
    # cold start: rounds of fresh interpreters (worker, watchdog and the bare boto3 baseline)
    cold_start_rounds: int = 15
    extra: dict[str, str] = field(default_factory=dict)

    def state_reps(self, size: int) -> int:
        if size >= 50 * MB:
            return 1
        if size >= 10 * MB:
            return 2
        return 5 if self.name == "full" else 1


FULL = BenchConfig()

QUICK = BenchConfig(
    name="quick",
    fanout_objects=16,
    fanout_widths=(1, 2),
    latency_ms=(2, 5),
    latency_objects=40,
    latency_objects_max=160,
    latency_concurrency=(1, 4),
    latency_rounds=1,  # a round proves the figure is made; the median is the full run's
    latency_saturate_threads=8,
    latency_count_objects=300,
    latency_count_pairs=1,
    durable_pairs=1,
    cold_start_rounds=1,  # still one fresh process per kind after its warm-up
    overhead_objects=300,
    overhead_pairs=2,
    cost_reps=1,
    sweep_objects=300,
    sweep_intervals_s=(0.05, 1.0),
    sweep_pairs=1,
    writes_objects=600,
    writes_hop_ms=2_500,
    writes_margin_ms=1_000,
    writes_checkpoint_s=0.1,
    writes_sizes=(200, 600),
    state_sizes=(1 * KB, 100 * KB),
    scale_sizes=(200,),
    scale_modes=("relay", "raw"),
    handoff_objects=100,
    handoff_sleep_ms=10,
    handoff_timeout_ms=3_000,
    handoff_margin_ms=1_200,
    handoff_warmup=0,
    handoff_timeout_s=60,
    handoff_chains=1,
    handoff_import_reps=1,
)
