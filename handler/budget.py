"""The time budget: when a hop must stop working and hand off, and how much work fits.

The margin kept for the hand-off is the larger of a configured floor and what this job has
measured (the slowest recent step, a write and an invoke) times a safety factor. A batch a task
sizes to the work window (an s3-walk listing page: `StepContext.sized_wait`) is not a step cost
the margin must hold: the next batch is sized to what is left, so reserving a whole batch would
only leave most of the margin unused. Its time still counts in the per-item time that sizes it.
The measured part never takes more than MAX_MARGIN_FRACTION of the time the hop started with,
so a hop with room works for most of its window however slow one step once was. The floor is
the operator's hard line and is always honoured: a hop that starts late (a cold start on a busy
machine) still keeps it in hand for its hand-off. Set it well under the function's timeout.

What a hop learns is handed to the next one in the item's `timing` map, and none of it can
poison later hops: a slow step carried in decays by half at every hop that does not see one
again (it is one sample, not the law), writes are measured afresh every hop (the claim is one),
and the per-item time is each hop's own measurement, the carried one only until it has one.

Time is read only through the Lambda context's remaining milliseconds, so the budget works the
same under a virtual clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

SAFETY_FACTOR = 2.0
STEP_WINDOW = 32
WRITE_WINDOW = 8
# The measured margin never takes more than this share of the time a hop started with.
MAX_MARGIN_FRACTION = 0.25
# What is left of a carried slow step at each hop that does not measure one as slow.
CARRY_DECAY = 0.5


class TimeBudget:
    def __init__(
        self,
        remaining_ms: Callable[[], int],
        min_margin_ms: int,
        learned: Mapping[str, int] | None = None,
    ) -> None:
        self.remaining_ms = remaining_ms
        self.min_margin_ms = min_margin_ms
        self.hop_ms = max(0, remaining_ms())
        learned = learned or {}
        # Carried in: each counts only until this hop measures enough of its own.
        self._carried_step = max(0, int(learned.get("step_ms", 0)))
        self._carried_write = max(0, int(learned.get("write_ms", 0)))
        self._carried_item_us = max(0, int(learned.get("item_us", 0)))
        self._invoke_ms = max(0, int(learned.get("invoke_ms", 0)))
        self._steps: deque[int] = deque(maxlen=STEP_WINDOW)
        self._writes: deque[int] = deque(maxlen=WRITE_WINDOW)
        self._slowest = 0
        self._work_ms = 0
        self._items = 0
        # The margin, read before every step, is recomputed only after an observation that can
        # change it (a new slowest step, a full step window, a write, an invoke).
        self._margin: int | None = None

    # ------------------------------------------------------------------ observations

    def observe_step(self, ms: int, items: int = 1, sized_ms: int = 0) -> None:
        """One step took `ms` and did `items` progress items (0 for a step that only listed);
        `sized_ms` of it went to a batch sized to the work window, which the margin need not
        hold (the per-item time includes it)."""
        # Conditions, not max(): this runs once per step, and a count step is microseconds.
        ms = ms if ms > 0 else 0
        own = ms - sized_ms if 0 < sized_ms < ms else (ms if sized_ms <= 0 else 0)
        steps = self._steps
        slowest = self._slowest
        if len(steps) == STEP_WINDOW:
            evicted = steps[0]
            steps.append(own)
            if own >= slowest:
                self._slowest = own
            elif evicted >= slowest:
                self._slowest = max(steps)  # the slowest step just aged out of the window
        else:
            steps.append(own)
            if own >= slowest:
                self._slowest = own
            if len(steps) == STEP_WINDOW:
                self._margin = None  # the carried step stops counting (see step_ms)
        if self._slowest != slowest:
            self._margin = None
        self._work_ms += ms
        if items > 0:
            self._items += items

    def observe_write(self, ms: int) -> None:
        self._writes.append(max(0, ms))
        self._margin = None

    def observe_invoke(self, ms: int) -> None:
        self._invoke_ms = max(0, ms)
        self._margin = None

    # ------------------------------------------------------------------ estimates

    def step_ms(self) -> int:
        """The step cost the margin covers: the slowest recent step of this hop; the carried
        one only until this hop has seen a full window of its own steps."""
        if len(self._steps) < STEP_WINDOW:
            return max(self._slowest, self._carried_step)
        return self._slowest

    def write_ms(self) -> int:
        return max(self._writes) if self._writes else self._carried_write

    def item_ms(self) -> float:
        """Milliseconds per progress item, listing included (0.0 before anything was measured).

        This hop's own average (all step time over all items done) once it has done an item,
        else the average the previous hop measured and carried in the item's `timing` map.
        A task sizes a batch as `ctx.work_window_ms() / ctx.item_ms()` items; one slow item
        weighs one item's share of the hop's average, and each hop measures afresh.
        """
        if self._items > 0:
            return self._work_ms / self._items
        return self._carried_item_us / 1000

    def margin_ms(self) -> int:
        margin = self._margin
        if margin is None:
            measured = SAFETY_FACTOR * (self.step_ms() + self.write_ms() + self._invoke_ms)
            measured = min(measured, MAX_MARGIN_FRACTION * self.hop_ms)
            margin = self._margin = int(max(self.min_margin_ms, measured))
        return margin

    def work_window_ms(self) -> int:
        """Milliseconds of work left before the relay yields (may be negative)."""
        return self.remaining_ms() - self.margin_ms()

    def should_yield_at(self, remaining_ms: int) -> bool:
        """Whether to hand off now, for a remaining time the caller has just read."""
        return remaining_ms <= self.margin_ms()

    def learned(self) -> dict[str, int]:
        """What the next hop starts from, stored on the job item at hand-off."""
        return {
            "step_ms": max(self._slowest, int(self._carried_step * CARRY_DECAY)),
            "write_ms": self.write_ms(),
            "invoke_ms": self._invoke_ms,
            "item_us": round(self.item_ms() * 1000),
            "margin_ms": self.margin_ms(),
        }
