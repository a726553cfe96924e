"""Decisions: every choice the simulator makes comes from a Chooser, so a run is its tape.

A tape is a list of integers in [0, 65536). Zero is always the benign decision (no fault, the
oldest runnable actor, the shortest delay), so a tape that runs out continues benignly and a
shrinker that lowers values towards zero removes faults.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SPAN = 65_536


class Chooser:
    """Base: subclasses supply raw values; this records the canonical decision tape."""

    def __init__(self) -> None:
        self.tape: list[int] = []

    def _raw(self) -> int:
        raise NotImplementedError

    def below(self, n: int) -> int:
        """An index in [0, n); 0 is the benign choice."""
        if n <= 1:
            return 0
        value = self._raw() % n
        self.tape.append(value)
        return value

    def chance(self, p: float) -> bool:
        """True with probability p; a zero value is always False."""
        if p <= 0:
            return False
        hit = self._raw() >= SPAN - int(p * SPAN)
        self.tape.append(SPAN - 1 if hit else 0)
        return hit

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high]; 0 on the tape gives low."""
        return low + self.below(high - low + 1)


class RandomChooser(Chooser):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self._rng = random.Random(seed)

    def _raw(self) -> int:
        return self._rng.randrange(SPAN)


class TapeChooser(Chooser):
    """Replays a tape; past its end every decision is the benign zero."""

    def __init__(self, source: Sequence[int]) -> None:
        super().__init__()
        self.source = list(source)
        self._at = 0

    def _raw(self) -> int:
        value = self.source[self._at] if self._at < len(self.source) else 0
        self._at += 1
        return value


def sparse(tape: Sequence[int]) -> dict[int, int]:
    """The non-zero decisions of a tape: the compact, printable form of a schedule."""
    return {i: v for i, v in enumerate(tape) if v}


def dense(decisions: dict[int, int]) -> list[int]:
    if not decisions:
        return []
    tape = [0] * (max(decisions) + 1)
    for i, v in decisions.items():
        tape[i] = v
    return tape


@dataclass
class ShrinkResult:
    tape: list[int]
    runs: int
    history: list[int] = field(default_factory=list)


def shrink(
    tape: Sequence[int], fails: Callable[[list[int]], bool], budget: int = 400
) -> ShrinkResult:
    """Delta-debug a failing tape: zero out chunks of decisions, then lower single values.

    `fails(tape)` replays a tape and says whether it still breaks an invariant. The result is
    the smallest failing tape found within `budget` replays (counted by non-zero decisions).
    """
    best = list(tape)
    runs = 0
    history = [len(sparse(best))]

    def attempt(candidate: list[int]) -> bool:
        nonlocal runs, best
        if runs >= budget:
            return False
        runs += 1
        if fails(candidate):
            best = _trim(candidate)
            history.append(len(sparse(best)))
            return True
        return False

    chunk = max(1, len(sparse(best)) // 2)
    while chunk >= 1 and runs < budget:
        progress = False
        keys = sorted(sparse(best))
        start = 0
        while start < len(keys) and runs < budget:
            drop = set(keys[start : start + chunk])
            candidate = [0 if i in drop else v for i, v in enumerate(best)]
            if attempt(candidate):
                progress = True
                keys = sorted(sparse(best))
            else:
                start += chunk
        if not progress:
            chunk //= 2
    # Lower the remaining values (smaller indices, shorter delays).
    for i in sorted(sparse(best)):
        if runs >= budget:
            break
        for smaller in (1, best[i] // 2):
            if 0 < smaller < best[i]:
                candidate = list(best)
                candidate[i] = smaller
                if attempt(candidate):
                    break
    return ShrinkResult(tape=best, runs=runs, history=history)


def _trim(tape: list[int]) -> list[int]:
    end = len(tape)
    while end and tape[end - 1] == 0:
        end -= 1
    return tape[:end]
