"""Sizes of the full run (`make bench`) and of the smoke run (`--quick`, a few seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

KB = 1_000
MB = 1_000_000


@dataclass(frozen=True)
class BenchConfig:
    name: str = "full"
    # relay vs plain loop: alternating pairs over one bucket
    overhead_objects: int = 5_000
    overhead_pairs: int = 8
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
    writes_sizes: tuple[int, ...] = (1_000, 10_000, 30_000)
    # state size
    state_sizes: tuple[int, ...] = (1 * KB, 10 * KB, 100 * KB, 1 * MB, 10 * MB, 100 * MB)
    # scaling, each walk in a fresh process
    scale_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    scale_modes: tuple[str, ...] = ("relay", "plain", "raw")
    # hand-off latency on the local Lambda service
    handoff_objects: int = 400
    handoff_sleep_ms: float = 40
    handoff_timeout_ms: int = 1_500
    handoff_margin_ms: int = 900
    handoff_warmup: int = 3
    handoff_timeout_s: float = 60
    handoff_chains: int = 3
    fanout_objects: int = 800
    fanout_sleep_ms: int = 40
    fanout_widths: tuple[int, ...] = (1, 2, 4, 8)
    extra: dict[str, str] = field(default_factory=dict)

    def state_reps(self, size: int) -> int:
        if size >= 100 * MB:
            return 1
        if size >= 10 * MB:
            return 2
        return 5 if self.name == "full" else 1


FULL = BenchConfig()

QUICK = BenchConfig(
    name="quick",
    fanout_objects=24,
    fanout_sleep_ms=5,
    fanout_widths=(1, 2),
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
    handoff_timeout_ms=1_500,
    handoff_margin_ms=900,
    handoff_warmup=0,
    handoff_timeout_s=60,
    handoff_chains=1,
)
