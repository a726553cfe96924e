"""The invariants, checked against the ground truth: every write DynamoDB actually committed.

The ledger does not trust the store's own audit sink (a write whose response was lost is never
reported there). It sees each committed UpdateItem through an `after-call` hook, with the item
as it is after the write (ReturnValues ALL_NEW), the actor whose thread (or whose in-flight
request) made it, and the true virtual time. Per write it checks:

- I1 one holder: a claim only while no live invocation holds an unexpired lease (a lease lasts
  one term from its holder's last commit: a live holder whose lease lapsed, within the clock
  skew, may be taken over, and is then fenced); a write that changes the item is the lease
  holder's own, an operator's flag, or a transition made while nobody alive holds a live
  lease; state and counters are written by the holder alone.
- I2 no fork: a claim or holder write comes from an event of the item's current epoch; the
  epoch never goes back; the cursor never goes back.
- I3 exact progress: the counters equal what the committed cursor covers, in every version.
- I4 at-least-once: every item the committed cursor covers was processed before the commit.
- I5 bounded: hops never exceed max_hops; nothing changes a SUCCEEDED or CANCELLED job.
- I7 operator intent: an accepted cancel or pause is honoured (the job ends CANCELLED or
  PAUSED) or stays visible on the item; only an operator's resume may replace a pause. For a
  fan-out (`FanOutLedgers`): no shard exists that the parent's committed state does not name
  (no orphan: `baton status PARENT` shows every shard), no shard is created after the parent's
  cancel was accepted, and a parent's cancel or pause reaches every shard that exists.
- I8 work follows the window: a hop with room (a window of at least ROOM_MARGINS times the
  margin floor) hands off with at most HALF its window left, so items per hop are in
  proportion to the window; only the hop that met a slow step and the next one are exempt (a
  slow step is one sample: by the second hop after it, hops work their whole window again).
- I9 attempts count from the last commit: a job fails for its attempts ("attempt N of M
  failed") only after M consecutive failed attempts with no progress committed between them.
And at the end: the job is SUCCEEDED, FAILED, CANCELLED or PAUSED (I5); every hop began at
the cursor its claim read (I6); a discarded duplicate cost at most three calls and no work, four
for Lambda's retry of the invocation that stopped a shard, which wakes its parent (I5).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from baton.store.codec import StateCodec, StateRef, decode_state
from baton.store.constants import CLOCK_SKEW_MS
from baton.store.errors import StateCorrupt
from tests.sim.core import Actor, Sim
from tests.sim.tasks import item_order, value

_deserializer = TypeDeserializer()
IGNORED = frozenset({"updated_at", "heartbeat_at"})
# An operator's flags, and whose pause it is (the parent's cascade or by name).
FLAGS = frozenset({"pause_requested", "cancel_requested", "pause_cascaded"})
# What only the lease holder may change (operators reset attempts when they resume).
HOLDER_ONLY = frozenset({"state", "state_size", "counters", "hops", "recent_hops", "timing"})
DUPLICATE_CALLS = 3
# Lambda's retry of the invocation whose hop stopped a shard (same request id) is discarded at
# its claim but reads the parent once more, to wake it in that invocation's place (it may have
# died between its stopping write and the wake-up): one call more than a plain duplicate.
RETRY_OF_OWN_STOP_CALLS = DUPLICATE_CALLS + 1
# I8: a hop has room when its window holds this many margin floors; it must then hand off with
# no more than this share of its window left (the budget's margin is at most a quarter of it).
ROOM_MARGINS = 4
LEFT_SHARE = 0.5
ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def _before(a: Any, b: Any) -> bool:
    return bool(item_order(a) < item_order(b))


def plain(attributes: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB-JSON item as plain Python: ints, bytes, dicts."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in attributes.items()}


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, Binary):
        return bytes(v.value)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | set):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str
    at_ms: int

    def __str__(self) -> str:
        return f"{self.invariant} at t={self.at_ms}: {self.detail}"


class CountModel:
    """Truth for the synthetic task: items 0..n-1, cursor `next`."""

    def __init__(self, items: int) -> None:
        self.n = items
        self.prefix = [0]
        for i in range(items):
            self.prefix.append(self.prefix[-1] + value(i))

    def position(self, state: Any) -> int:
        return int(state["next"]) if state else 0

    def item(self, position: int) -> Any:
        return position

    def expected(self, position: int) -> dict[str, int]:
        return {"items": position, "sum": self.prefix[position]}


class WalkModel:
    """Truth for s3-walk over a known bucket: cursor `start_after`, keys in byte order, within
    a shard's bounds when it has them (prefix, start_at inclusive, end_before exclusive)."""

    def __init__(
        self,
        sizes: dict[str, int],
        start_after: str | None = None,
        *,
        prefix: str = "",
        start_at: str | None = None,
        end_before: str | None = None,
    ) -> None:
        every = sorted(sizes, key=lambda k: k.encode())
        low = (start_after or "").encode()
        self.keys = [
            k
            for k in every
            if k.encode() > low
            and k.startswith(prefix)
            and (start_at is None or k.encode() >= start_at.encode())
            and (end_before is None or k.encode() < end_before.encode())
        ]
        self.encoded = [k.encode() for k in self.keys]
        self.n = len(self.keys)
        self.prefix = [0]
        for k in self.keys:
            self.prefix.append(self.prefix[-1] + sizes[k])

    def position(self, state: Any) -> int:
        after = (state or {}).get("start_after")
        if not after:
            return 0
        return bisect.bisect_right(self.encoded, after.encode())

    def item(self, position: int) -> Any:
        return self.keys[position]

    def expected(self, position: int) -> dict[str, int]:
        return {"objects": position, "bytes": self.prefix[position]}


class Ledger:
    def __init__(
        self,
        sim: Sim,
        model: CountModel | WalkModel,
        job_id: str,
        raw_s3: Any = None,
        *,
        in_order: bool = True,
        min_margin_ms: int = 300,
    ) -> None:
        self.sim = sim
        # Items run one at a time in key order (else on a pool, finishing in any order).
        self.in_order = in_order
        self.model = model
        self.job_id = job_id
        self.raw_s3 = raw_s3
        self.image: dict[str, Any] | None = None
        self.violations: list[Violation] = []
        self.owners: dict[str, Actor] = {}
        self.commits = 0
        self._covered = 0
        # I9: failed attempts since the committed cursor or counters last moved.
        self.failures = 0
        # I8: hand-offs since the last one whose hop met a slow step (None: none did yet).
        self.since_slow: int | None = None
        self.min_margin_ms = min_margin_ms
        # Called after every committed version (prior, new): the fan-out checks hang here.
        self.after_commit: list[Callable[[Actor | None, dict[str, Any], dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ helpers

    def fail(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, detail, self.sim.now - self.sim.start_ms))
        self.sim.log(f"VIOLATION {invariant}: {detail}")

    def state(self, image: dict[str, Any]) -> tuple[bool, Any]:
        """(readable, the committed state): (True, None) before the first commit of state."""
        blob = image.get("state")
        ref = image.get("state_ref")
        if blob is None and ref is None:
            return True, None
        try:
            if ref is not None:
                blob = StateCodec(self.raw_s3, None).fetch(StateRef.from_dict(ref))
            return True, decode_state(blob or b"", image.get("state_codec"))
        except StateCorrupt as exc:
            self.fail("I6", f"the committed state cannot be read: {exc}")
            return False, None

    def position(self, image: dict[str, Any]) -> int | None:
        readable, state = self.state(image)
        if not readable:
            return None
        return self.model.position(state) if state is not None else 0

    def deleted(self, key: str) -> None:
        """An S3 object was deleted: it must not be the state the item's last commit points to."""
        ref = (self.image or {}).get("state_ref")
        if ref and ref.get("key") == key:
            self.fail(
                "I6",
                f"the committed state object {key} was deleted while the job item still points "
                f"to it (status {self.image and self.image.get('status')}): the cursor is lost",
            )

    def _live_holder(self, owner: str | None, lease_expires_ms: Any = None) -> Actor | None:
        """The live invocation holding `owner`'s lease, unless that lease has lapsed: expired
        by the true clock minus the store's skew margin (the most the protocol lets a reader's
        clock run ahead; the `skew` rate may plant more)."""
        if owner is None:
            return None
        holder = self.owners.get(owner)
        if holder is None or not holder.alive(self.sim.now):
            return None
        if lease_expires_ms is not None and self.sim.now > int(lease_expires_ms) - CLOCK_SKEW_MS:
            self.sim.stats["lease_lapsed_live_holder"] += 1
            return None
        return holder

    # ------------------------------------------------------------------ per write

    def observe(self, image: dict[str, Any]) -> None:
        """A version read outside the simulation (after create): the baseline."""
        self.image = image

    def commit(self, writer: Actor | None, op: str, attributes: dict[str, Any]) -> None:
        """Called in the writer's thread: it must never raise into the code under test."""
        try:
            self._commit(writer, attributes)
        except Exception as exc:
            self.fail("harness", f"the ledger failed on a commit: {type(exc).__name__}: {exc}")

    def _commit(self, writer: Actor | None, attributes: dict[str, Any]) -> None:
        new = plain(attributes)
        if new.get("job_id") != self.job_id:
            return
        prior, self.image = self.image, new
        self.commits += 1
        if prior is None:
            return
        who = writer.origin or writer if writer else None
        if writer is not None:
            self._check_writer(writer.origin or writer, writer, prior, new)
        self._check_version(prior, new)
        self._check_intent(who, prior, new)
        self._check_attempts(prior, new)
        if who is not None:
            self._check_hop_work(who, prior, new)
        for hook in self.after_commit:
            hook(who, prior, new)

    def _check_attempts(self, prior: dict[str, Any], new: dict[str, Any]) -> None:
        """I9: count failed attempts since progress was last committed (the truth), and fail a
        job that ends "attempt N of M failed" before M of them."""
        if self._progressed(prior, new):
            self.failures = 0
        same_epoch = new.get("epoch") == prior.get("epoch")
        if same_epoch and new.get("attempts", 0) > prior.get("attempts", 0):
            self.failures += 1  # a released attempt: the item counts it
        error = str(new.get("last_error") or "")
        newly_failed = new.get("status") == "FAILED" and prior.get("status") != "FAILED"
        if newly_failed and error.startswith("attempt "):
            failed = self.failures + 1  # this one
            limit = int(new.get("max_attempts", 0))
            if failed < limit:
                self.fail(
                    "I9",
                    f"FAILED as {error[:60]!r} after {failed} failed attempt(s) since the "
                    f"last committed progress (max_attempts {limit})",
                )

    def _progressed(self, prior: dict[str, Any], new: dict[str, Any]) -> bool:
        if (prior.get("counters") or {}) != (new.get("counters") or {}):
            return True
        same = prior.get("state") == new.get("state") and prior.get("state_ref") == new.get(
            "state_ref"
        )
        return not same and self.position(prior) != self.position(new)

    def _check_hop_work(self, who: Actor, prior: dict[str, Any], new: dict[str, Any]) -> None:
        """I8, at each hand-off by the holder: the hop used its window, unless it or the hop
        before it met a slow step."""
        handed_off = (
            prior.get("status") == "RUNNING"
            and new.get("status") == "QUEUED"
            and new.get("epoch", 0) == prior.get("epoch", 0) + 1
            and who.owner is not None
            and who.owner == prior.get("lease_owner")
        )
        if not handed_off or who.claimed_ms is None or who.deadline is None:
            return
        if new.get("waiting_for") is not None:
            return  # parked to wait (a fan-out parent whose shards all run): nothing to work on
        if who.slow_steps:
            self.since_slow = 0
            return
        if self.since_slow == 0:
            self.since_slow = 1  # the first hop after the slow one may still pay for it
            return
        if self.since_slow is not None:
            self.since_slow += 1
        window = who.deadline - who.claimed_ms
        left = who.deadline - self.sim.now
        if window < ROOM_MARGINS * self.min_margin_ms or left <= LEFT_SHARE * window:
            return
        items = (self.position(new) or 0) - (who.claim_cursor or 0)
        since = (
            "no slow step in this job"
            if self.since_slow is None
            else f"{self.since_slow} hand-offs after a slow step"
        )
        self.fail(
            "I8",
            f"{who.label} handed off with {left} of its {window} ms window left after {items} "
            f"item(s) ({since}; timing carried {new.get('timing')})",
        )

    def _check_intent(self, who: Actor | None, prior: dict[str, Any], new: dict[str, Any]) -> None:
        honoured = {"cancel_requested": ("CANCELLED",), "pause_requested": ("PAUSED", "CANCELLED")}
        for flag, ends in honoured.items():
            if not prior.get(flag) or new.get(flag) or new.get("status") in ends:
                continue
            if flag == "pause_requested" and who is not None and who.kind == "operator":
                continue  # a resume is a newer request than the pause
            by = f"{who.label} ({who.kind})" if who is not None else "an unknown writer"
            self.fail("I7", f"{flag} dropped by {by}; the job is {new.get('status')}")

    def _check_writer(
        self, who: Actor, via: Actor, prior: dict[str, Any], new: dict[str, Any]
    ) -> None:
        late = f" (landing late, in flight from {who.label})" if via is not who else ""
        owner_before, owner_after = prior.get("lease_owner"), new.get("lease_owner")
        if owner_after is not None and owner_after != owner_before:
            if who.kind != "invocation":
                self.fail("I1", f"{who.label} ({who.kind}) took a lease")
                return
            self.owners[owner_after] = who
            who.owner = owner_after
            who.claimed_ms = self.sim.now
            who.claim_cursor = self.position(new)
            if who.epoch != prior.get("epoch"):
                self.fail(
                    "I2",
                    f"{who.label} with an event of epoch {who.epoch} claimed the job at epoch "
                    f"{prior.get('epoch')}{late}",
                )
            if prior.get("status") not in ("QUEUED", "RUNNING"):
                self.fail("I5", f"{who.label} claimed a {prior.get('status')} job{late}")
            holder = self._live_holder(owner_before, prior.get("lease_expires_ms"))
            if holder is not None:
                self.fail(
                    "I1",
                    f"two live holders: {who.label} claimed epoch {who.epoch} while "
                    f"{holder.label} holds it (lease to {prior.get('lease_expires_ms')}, "
                    f"killed at {holder.deadline}){late}",
                )
            return
        if who.owner is not None and owner_before == who.owner:
            if who.epoch != prior.get("epoch"):
                self.fail(
                    "I2", f"{who.label} of epoch {who.epoch} wrote epoch {prior.get('epoch')}"
                )
            return
        changed = {k for k in prior.keys() | new.keys() if prior.get(k) != new.get(k)} - IGNORED
        if changed <= FLAGS:
            return
        holder = self._live_holder(owner_before, prior.get("lease_expires_ms"))
        # An invocation of another job (a fan-out parent resuming a shard its cascade paused,
        # `Children.resume_cascaded`) writes this job as an operator does, not as its holder.
        as_holder = who.kind == "invocation" and who.job_id in (None, self.job_id)
        only_holder = HOLDER_ONLY | ({"attempts"} if as_holder else set())
        if holder is not None:
            self.fail(
                "I1",
                f"{who.label} wrote {sorted(changed)} while {holder.label} holds the lease{late}",
            )
        elif changed & only_holder:
            self.fail(
                "I1",
                f"{who.label} wrote {sorted(changed & only_holder)} without holding the "
                f"lease{late}",
            )
        elif owner_after is not None:
            self.fail("I1", f"{who.label} left a lease it does not hold{late}")
        elif as_holder and new.get("epoch", 0) > prior.get("epoch", 0):
            self.fail("I2", f"{who.label} moved the epoch without holding the lease{late}")

    def _check_version(self, prior: dict[str, Any], new: dict[str, Any]) -> None:
        if prior.get("status") in ("SUCCEEDED", "CANCELLED"):
            self.fail("I5", f"a {prior['status']} job was written again: now {new.get('status')}")
        if new.get("epoch", 0) < prior.get("epoch", 0):
            self.fail("I2", f"epoch went back from {prior['epoch']} to {new.get('epoch')}")
        parked = new.get("waits", 0) == prior.get("waits", 0) + 1
        if new.get("hops", 0) < prior.get("hops", 0) - (1 if parked else 0):
            # A park moves its hop from `hops` to `waits`, one hop at a time.
            self.fail("I5", f"hops went back from {prior['hops']} to {new.get('hops')}")
        claimed = new.get("lease_owner") is not None and new.get("lease_owner") != prior.get(
            "lease_owner"
        )
        hops_added = new.get("hops", 0) - prior.get("hops", 0)
        if hops_added != (1 if claimed else 0) and hops_added > 0:
            self.fail(
                "I5",
                f"hops went from {prior.get('hops')} to {new.get('hops')} in one write "
                f"({'a claim' if claimed else 'no new holder'}): a hop counted twice",
            )
        if new.get("hops", 0) > new.get("max_hops", 0):
            self.fail("I5", f"hops {new.get('hops')} over max_hops {new.get('max_hops')}")
        if (new.get("status") == "RUNNING") != (new.get("lease_owner") is not None):
            self.fail(
                "I1", f"status {new.get('status')} with lease owner {new.get('lease_owner')!r}"
            )
        self._check_progress(prior, new)

    def _check_progress(self, prior: dict[str, Any], new: dict[str, Any]) -> None:
        """I3, I4 and the cursor's direction (I2), against the model's truth."""
        before, after = self.position(prior), self.position(new)
        if after is None:
            return
        counters = {k: v for k, v in (new.get("counters") or {}).items() if v}
        expected = {k: v for k, v in self.model.expected(after).items() if v}
        if counters != expected:
            self.fail(
                "I3",
                f"counters {counters} but the committed cursor (position {after}) "
                f"covers {expected}",
            )
        if before is not None and after < before:
            self.fail("I2", f"the committed cursor went back from {before} to {after}")
        for p in range(self._covered, after):
            if self.sim.processed[self.model.item(p)] < 1:
                self.fail("I4", f"item {self.model.item(p)!r} committed but never processed")
                break
        self._covered = max(self._covered, after)
        if new.get("status") == "SUCCEEDED" and after != self.model.n:
            self.fail("I3", f"SUCCEEDED at position {after} of {self.model.n}")

    # ------------------------------------------------------------------ at the end

    def final(self, image: dict[str, Any] | None, actors: Sequence[Actor]) -> None:
        if image is None:
            self.fail("I5", "the job item is gone")
            return
        status = image.get("status")
        if status not in ("SUCCEEDED", "FAILED", "CANCELLED", "PAUSED"):
            self.fail("I5", f"the job was left {status} with nothing in flight")
        if status == "SUCCEEDED":
            missing = [
                self.model.item(p)
                for p in range(self.model.n)
                if self.sim.processed[self.model.item(p)] < 1
            ]
            if missing:
                self.fail("I4", f"SUCCEEDED but never processed: {missing[:5]}")
        requests: set[str] = set()
        for actor in actors:
            if actor.kind != "invocation":
                continue
            retry = actor.request_id in requests
            requests.add(actor.request_id)
            if actor.owner is not None and actor.first_item is not None:
                cursor = actor.claim_cursor
                if cursor is not None and cursor < self.model.n:
                    start = self.model.item(cursor)
                    # On a pool the hop may die before its first object finishes, so only
                    # "nothing below the cursor" holds; in order, the first item is the cursor's.
                    began = actor.first_item if self.in_order else actor.lowest_item
                    wrong = began != start if self.in_order else _before(began, start)
                    if wrong:
                        self.fail(
                            "I6",
                            f"{actor.label} began at {began!r}, but the cursor it "
                            f"claimed was at {start!r}",
                        )
            calls = RETRY_OF_OWN_STOP_CALLS if retry else DUPLICATE_CALLS
            if actor.outcome == "discarded" and (actor.ddb_calls > calls or actor.items):
                self.fail(
                    "I5",
                    f"discarded {actor.label} cost {actor.ddb_calls} DynamoDB calls and "
                    f"{actor.items} items",
                )


class ParentModel:
    """Truth for a fan-out parent: its counters are its shards' counters added up, and it
    succeeds only when every planned shard did, covering the whole bucket."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.n = len(sizes)
        self.bytes = sum(sizes.values())

    def position(self, state: Any) -> int:
        shards = (state or {}).get("shards", [])
        return sum(int(s.get("counters", {}).get("objects", 0)) for s in shards)


def shard_ids(state: Any) -> list[str]:
    return [s["id"] for s in (state or {}).get("shards", [])] if isinstance(state, dict) else []


class ParentLedger(Ledger):
    """A fan-out parent's writes: I1, I2, I5, I7, I8 and I9 as for any job; progress is the
    shards' counters as the parent's committed state records them."""

    model: ParentModel  # type: ignore[assignment]

    def _check_progress(self, prior: dict[str, Any], new: dict[str, Any]) -> None:
        readable, state = self.state(new)
        if not readable or state is None:
            return
        totals: dict[str, int] = {}
        for shard in state.get("shards", []):
            for name, count in shard.get("counters", {}).items():
                totals[name] = totals.get(name, 0) + int(count)
            key = f"shards_{str(shard['status']).lower()}"
            totals[key] = totals.get(key, 0) + 1
        totals["shards"] = len(state.get("shards", []))
        counters = {k: v for k, v in (new.get("counters") or {}).items() if v}
        expected = {k: v for k, v in totals.items() if v}
        if counters != expected:
            self.fail("I3", f"parent counters {counters}, its shards add up to {expected}")
        if new.get("status") == "SUCCEEDED":
            statuses = {str(s["status"]) for s in state.get("shards", [])}
            whole = {"objects": self.model.n, "bytes": self.model.bytes}
            got = {k: totals.get(k, 0) for k in whole}
            if statuses != {"SUCCEEDED"} or got != whole:
                self.fail(
                    "I3",
                    f"parent SUCCEEDED with shards {sorted(statuses)} covering {got}, the "
                    f"bucket holds {whole}",
                )

    def final(self, image: dict[str, Any] | None, actors: Sequence[Actor]) -> None:
        if image is None:
            self.fail("I5", "the parent's job item is gone")
            return
        if image.get("status") not in ENDED | {"PAUSED"}:
            self.fail("I5", f"the parent was left {image.get('status')} with nothing in flight")


class FanOutLedgers:
    """A fan-out parent and every shard it creates, each with its own ledger, and I7 across
    them: every shard that exists is named in the parent's committed state (no orphan), none is
    created after the parent's cancel was accepted, and the parent's cancel or pause reaches
    every shard that exists."""

    def __init__(
        self,
        sim: Sim,
        sizes: dict[str, int],
        parent_id: str,
        raw_s3: Any,
        *,
        in_order: bool,
        min_margin_ms: int,
    ) -> None:
        self.sim = sim
        self.sizes = sizes
        self.raw_s3 = raw_s3
        self.in_order = in_order
        self.min_margin_ms = min_margin_ms
        self.parent = ParentLedger(
            sim,
            ParentModel(sizes),  # type: ignore[arg-type]
            parent_id,
            raw_s3,
            in_order=in_order,
            min_margin_ms=min_margin_ms,
        )
        self.parent.after_commit.append(self._parent_committed)
        self.children: dict[str, Ledger] = {}
        # Virtual times: when the parent's cancel and pause were accepted, and when each shard
        # and the parent's stop were committed.
        self.cancel_at: int | None = None
        self.pause_at: int | None = None
        self.stopped_at: int | None = None
        # When an operator's `baton cancel|pause PARENT` last completed (the request and its
        # cascade to the shards), by request.
        self.cascaded_at: dict[str, int] = {}
        self.ended_at: dict[str, int] = {}
        self.created_late: list[str] = []

    @property
    def violations(self) -> list[Violation]:
        every = [*self.parent.violations]
        for ledger in self.children.values():
            every.extend(ledger.violations)
        return sorted(every, key=lambda v: v.at_ms)

    @property
    def ledgers(self) -> list[Ledger]:
        return [self.parent, *self.children.values()]

    def fail(self, invariant: str, detail: str) -> None:
        self.parent.fail(invariant, detail)

    def commit(self, writer: Actor | None, op: str, attributes: dict[str, Any]) -> None:
        job_id = attributes.get("job_id", {}).get("S")
        ledger = self.parent if job_id == self.parent.job_id else self.children.get(str(job_id))
        if ledger is not None:
            ledger.commit(writer, op, attributes)

    def deleted(self, key: str) -> None:
        for ledger in self.ledgers:
            ledger.deleted(key)

    def created(self, writer: Actor | None, item: dict[str, Any]) -> None:
        """A job item was put: for a shard of this parent, check it may exist, then follow it."""
        try:
            image = plain(item)
            if image.get("parent_id") != self.parent.job_id:
                return
            self._created(writer, image)
        except Exception as exc:
            self.fail("harness", f"the ledger failed on a create: {type(exc).__name__}: {exc}")

    def _created(self, writer: Actor | None, image: dict[str, Any]) -> None:
        job_id = str(image["job_id"])
        by = writer.label if writer is not None else "?"
        _, state = self.parent.state(self.parent.image or {})
        if job_id not in shard_ids(state):
            self.fail(
                "I7",
                f"shard {job_id} created by {by} while the parent's committed state names "
                f"{len(shard_ids(state))} shards, not it: an orphan `baton status` cannot show "
                f"and `baton cancel` cannot reach",
            )
        if self.cancel_at is not None:
            self.created_late.append(job_id)
            self.fail(
                "I7",
                f"shard {job_id} created by {by} {self.sim.now - self.cancel_at} ms after the "
                f"parent's cancel was accepted",
            )
        params = image.get("params") or {}
        model = WalkModel(
            self.sizes,
            prefix=params.get("prefix", ""),
            start_at=params.get("start_at"),
            end_before=params.get("end_before"),
        )
        ledger = Ledger(
            self.sim,
            model,
            job_id,
            self.raw_s3,
            in_order=params.get("concurrency", 1) == 1,
            min_margin_ms=self.min_margin_ms,
        )
        ledger.observe(image)
        ledger.after_commit.append(lambda who, prior, new: self._child_committed(job_id, new))
        self.children[job_id] = ledger

    def _child_committed(self, job_id: str, new: dict[str, Any]) -> None:
        if new.get("status") in ENDED and job_id not in self.ended_at:
            self.ended_at[job_id] = self.sim.now

    def _parent_committed(
        self, who: Actor | None, prior: dict[str, Any], new: dict[str, Any]
    ) -> None:
        status = new.get("status")
        if self.cancel_at is None and (new.get("cancel_requested") or status == "CANCELLED"):
            self.cancel_at = self.sim.now
        paused = new.get("pause_requested") or status == "PAUSED"
        if paused and self.pause_at is None:
            self.pause_at = self.sim.now
        elif not paused and self.pause_at is not None and status != "CANCELLED":
            self.pause_at = None  # resumed: a newer request than the pause
        if status in ("CANCELLED", "PAUSED") and prior.get("status") != status:
            self.stopped_at = self.sim.now

    def check_reach(self) -> None:
        """With nothing in flight: a CANCELLED or PAUSED parent's request, once the operator's
        command completed, reached every shard that exists (it is stopped, carries the
        request, or had ended when the parent stopped and the command had passed the request
        on); every shard is named in the parent's committed state.

        A command that failed midway (DynamoDB down after botocore's retries) is not counted as
        accepted: the operator was shown an error, not a cancelled job."""
        image = self.parent.image or {}
        _, state = self.parent.state(image)
        named = set(shard_ids(state))
        status = image.get("status")
        for job_id, ledger in self.children.items():
            child = ledger.image or {}
            if job_id not in named:
                self.fail("I7", f"shard {job_id} exists but the parent's state does not name it")
            command = {"CANCELLED": "cancel", "PAUSED": "pause"}.get(str(status))
            if command is None or command not in self.cascaded_at:
                continue
            flag = "cancel_requested" if status == "CANCELLED" else "pause_requested"
            stopped = {"CANCELLED"} if status == "CANCELLED" else {"CANCELLED", "PAUSED"}
            ended = self.ended_at.get(job_id)
            reached = max(self.stopped_at or 0, self.cascaded_at[command])
            before = ended is not None and ended <= reached
            if child.get("status") in stopped or child.get(flag) or child.get("cancel_requested"):
                continue
            if child.get("status") in ENDED and before:
                continue
            self.fail(
                "I7",
                f"the parent is {status} but its shard {job_id} is {child.get('status')} "
                f"without the request (it ended at {ended}, the parent stopped at "
                f"{self.stopped_at}, the operator passed it on at {self.cascaded_at})",
            )

    def final(self, actors: Sequence[Actor]) -> None:
        parent_image = self.parent.image
        self.parent.final(parent_image, [a for a in actors if a.job_id == self.parent.job_id])
        for job_id, ledger in self.children.items():
            ledger.final(ledger.image, [a for a in actors if a.job_id == job_id])
            if (parent_image or {}).get("status") == "SUCCEEDED":
                status = (ledger.image or {}).get("status")
                if status != "SUCCEEDED":
                    self.fail("I3", f"the parent SUCCEEDED but its shard {job_id} is {status}")
