"""Fault knobs for tests and chaos runs: each fault has a rate and a seed.

- duplicate: an accepted async event is delivered twice (the copy at a random later moment);
- kill: the worker running an invocation is killed (SIGKILL) at a random moment of it;
- throttle: an Invoke request is answered with 429 TooManyRequestsException.

Each knob draws from its own `random.Random(seed)`, so the sequence of decisions for one knob is
reproducible; which invocation meets which decision still depends on timing between processes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """Happens with probability `rate` (0 to 1) at each chance, drawn from `seed`."""

    rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"a fault rate is a probability between 0 and 1, got {self.rate}")

    @classmethod
    def parse(cls, text: str, default_seed: int = 0) -> Fault:
        """`0.2` or `0.2:7` (rate, then seed)."""
        rate_text, _, seed_text = text.partition(":")
        try:
            rate = float(rate_text)
            seed = int(seed_text) if seed_text else default_seed
        except ValueError:
            raise ValueError(f"a fault is RATE or RATE:SEED (e.g. 0.2:7), got {text!r}") from None
        return cls(rate, seed)

    def __str__(self) -> str:
        return f"{self.rate:g}:{self.seed}"


@dataclass(frozen=True)
class FaultConfig:
    duplicate: Fault = field(default_factory=Fault)
    kill: Fault = field(default_factory=Fault)
    throttle: Fault = field(default_factory=Fault)

    @property
    def any(self) -> bool:
        return any(f.rate > 0 for f in (self.duplicate, self.kill, self.throttle))

    def describe(self) -> str:
        if not self.any:
            return "none"
        return ", ".join(
            f"{name} {fault.rate:g} (seed {fault.seed})"
            for name, fault in self.as_dict().items()
            if fault.rate > 0
        )

    def as_dict(self) -> dict[str, Fault]:
        return {"duplicate": self.duplicate, "kill": self.kill, "throttle": self.throttle}

    @classmethod
    def from_rates(cls, rates: Mapping[str, float], seed: int = 0) -> FaultConfig:
        """All knobs from one seed (each knob gets its own stream derived from it)."""
        offsets = {"duplicate": 1, "kill": 2, "throttle": 3}
        unknown = set(rates) - set(offsets)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(offsets)}")
        return cls(**{name: Fault(rate, seed * 10 + offsets[name]) for name, rate in rates.items()})


class Dice:
    """Thread-safe seeded draws for one fault."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self._rng = random.Random(fault.seed)
        self._lock = threading.Lock()
        self.rolls = 0
        self.hits = 0

    def roll(self) -> bool:
        if self.fault.rate <= 0:
            return False
        with self._lock:
            self.rolls += 1
            hit = self._rng.random() < self.fault.rate
            self.hits += hit
            return hit

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)
