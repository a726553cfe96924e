"""The invariants, checked against the ground truth: every write DynamoDB actually committed.

The ledger does not trust the store's own audit sink (a write whose response was lost is never
reported there). It sees each committed UpdateItem through an `after-call` hook, with the item
as it is after the write (ReturnValues ALL_NEW), the actor whose thread (or whose in-flight
request) made it, and the true virtual time. Per write it checks:

- I1 one holder: a claim only while no live invocation holds the lease; a write that changes
  the item is the lease holder's own, an operator's flag, or a transition made while nobody
  alive holds the lease; state and counters are written by the holder alone.
- I2 no fork: a claim or holder write comes from an event of the item's current epoch; the
  epoch never goes back; the cursor never goes back.
- I3 exact progress: the counters equal what the committed cursor covers, in every version.
- I4 at-least-once: every item the committed cursor covers was processed before the commit.
- I5 bounded: hops never exceed max_hops; nothing changes a SUCCEEDED or CANCELLED job.
- I7 operator intent: an accepted cancel or pause is honoured (the job ends CANCELLED or
  PAUSED) or stays visible on the item; only an operator's resume may replace a pause.
And at the end: the job is SUCCEEDED, FAILED, CANCELLED or PAUSED (I5); every hop began at
the cursor its claim read (I6); a discarded duplicate cost at most three calls and no work (I5).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from store.codec import StateCodec, StateRef, decode_state
from store.errors import StateCorrupt
from tests.sim.core import Actor, Sim
from tests.sim.tasks import item_order, value

_deserializer = TypeDeserializer()
IGNORED = frozenset({"updated_at", "heartbeat_at"})
FLAGS = frozenset({"pause_requested", "cancel_requested"})
# What only the lease holder may change (operators reset attempts when they resume).
HOLDER_ONLY = frozenset({"state", "state_size", "counters", "hops", "recent_hops", "timing"})
DUPLICATE_CALLS = 3


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
    """Truth for s3-walk over a known bucket: cursor `start_after`, keys in byte order."""

    def __init__(self, sizes: dict[str, int], start_after: str | None = None) -> None:
        every = sorted(sizes, key=lambda k: k.encode())
        low = (start_after or "").encode()
        self.keys = [k for k in every if k.encode() > low]
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

    # ------------------------------------------------------------------ helpers

    def fail(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, detail, self.sim.now - self.sim.start_ms))
        self.sim.log(f"VIOLATION {invariant}: {detail}")

    def position(self, image: dict[str, Any]) -> int | None:
        blob = image.get("state")
        ref = image.get("state_ref")
        if blob is None and ref is None:
            return 0
        try:
            if ref is not None:
                blob = StateCodec(self.raw_s3, None).fetch(StateRef.from_dict(ref))
            state = decode_state(blob or b"", image.get("state_codec"))
        except StateCorrupt as exc:
            self.fail("I6", f"the committed state cannot be read: {exc}")
            return None
        return self.model.position(state)

    def deleted(self, key: str) -> None:
        """An S3 object was deleted: it must not be the state the item's last commit points to."""
        ref = (self.image or {}).get("state_ref")
        if ref and ref.get("key") == key:
            self.fail(
                "I6",
                f"the committed state object {key} was deleted while the job item still points "
                f"to it (status {self.image and self.image.get('status')}): the cursor is lost",
            )

    def _live_holder(self, owner: str | None) -> Actor | None:
        if owner is None:
            return None
        holder = self.owners.get(owner)
        if holder is None:
            return None
        return holder if holder.alive(self.sim.now) else None

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
        if writer is not None:
            self._check_writer(writer.origin or writer, writer, prior, new)
        self._check_version(prior, new)
        self._check_intent(writer.origin or writer if writer else None, prior, new)

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
            who.claim_cursor = self.position(new)
            if who.epoch != prior.get("epoch"):
                self.fail(
                    "I2",
                    f"{who.label} with an event of epoch {who.epoch} claimed the job at epoch "
                    f"{prior.get('epoch')}{late}",
                )
            if prior.get("status") not in ("QUEUED", "RUNNING"):
                self.fail("I5", f"{who.label} claimed a {prior.get('status')} job{late}")
            holder = self._live_holder(owner_before)
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
        holder = self._live_holder(owner_before)
        only_holder = HOLDER_ONLY | ({"attempts"} if who.kind == "invocation" else set())
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
        elif who.kind == "invocation" and new.get("epoch", 0) > prior.get("epoch", 0):
            self.fail("I2", f"{who.label} moved the epoch without holding the lease{late}")

    def _check_version(self, prior: dict[str, Any], new: dict[str, Any]) -> None:
        if prior.get("status") in ("SUCCEEDED", "CANCELLED"):
            self.fail("I5", f"a {prior['status']} job was written again: now {new.get('status')}")
        if new.get("epoch", 0) < prior.get("epoch", 0):
            self.fail("I2", f"epoch went back from {prior['epoch']} to {new.get('epoch')}")
        if new.get("hops", 0) < prior.get("hops", 0):
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
        for actor in actors:
            if actor.kind != "invocation":
                continue
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
            if actor.outcome == "discarded" and (actor.ddb_calls > DUPLICATE_CALLS or actor.items):
                self.fail(
                    "I5",
                    f"discarded {actor.label} cost {actor.ddb_calls} DynamoDB calls and "
                    f"{actor.items} items",
                )
