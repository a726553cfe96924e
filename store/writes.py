"""One conditional write on the job item, and the rule that reads its outcome.

botocore resends a request after a read timeout, a reset connection or a 500 (standard retry
mode, as pynamodb configures it). A write can therefore meet itself: its first attempt landed,
the answer was lost, and the retry is refused because the item moved on, by that very write.
So every write that moves the item on sets a fresh token in `last_write`, and its outcome is:

- **applied**: the condition held, or it failed and the item (read back, consistent) carries
  this write's token: an earlier attempt of the same call landed;
- **refused**: the condition failed and the token is not on the item: the item moved on; the
  item as read back is returned so the caller can say why without another read;
- **unknown**: any other error (retries exhausted, throttled, the read-back failed) and the
  token not seen: `WriteUnknown`. The write may still land later.

Writes that are idempotent under their own condition (an operator's flag) pass no token and
leave `last_write` alone, so a holder's chain of writes (store/conditions.py) is not broken.

A guarded create (`put_guarded`) is one TransactWriteItems: the Put and a ConditionCheck on
another item (a fan-out parent), applied together or not at all. It carries the write's token as
ClientRequestToken too, so on DynamoDB botocore's resend of a landed transaction is answered as
applied without writing again; where the resend is run again instead (moto), the Put is refused
and the token on the item says it was this write's own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pynamodb.exceptions import (
    DoesNotExist,
    PutError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from baton.store.constants import ITEM_LIMIT_BYTES
from baton.store.errors import CorruptItem, CreateThrottled, ItemTooLarge, WriteUnknown
from baton.store.model import JobModel

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
# A single-item write rejected because a transaction held the item at that moment (a shard's
# create checks its parent's item): nothing was written.
TRANSACTION_CONFLICT = "TransactionConflictException"
# Reasons a transaction gives, item by item.
CHECK_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
# A transaction cancelled only because another request was writing one of its items at that
# moment wrote nothing: send it again, at most this many times in all.
GUARDED_ATTEMPTS = 3
# Errors that say the request was rejected before it could change anything.
REJECTED = frozenset({"ValidationException", "SerializationException"})
# A request refused for throughput (nothing written by it), and a transaction cancelled so.
THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
THROTTLED_REASON = "ThrottlingError"
# What a ValidationException says when the write would take the item past 400 KB: "Item size has
# exceeded the maximum allowed size" (PutItem) and "Item size to update has exceeded the maximum
# allowed size" (UpdateItem), as DynamoDB words them.
ITEM_SIZE_MESSAGE = "exceeded the maximum allowed size"


def new_token() -> str:
    """A token unique to one write call (botocore's retries resend the same request)."""
    return secrets.token_hex(8)


def rejected(job_id: str, exc: PynamoDBException) -> CorruptItem:
    """The error for a write DynamoDB rejected before changing anything: the item would grow
    past DynamoDB's item limit, or an attribute has a type or value it refuses."""
    if ITEM_SIZE_MESSAGE in str(exc.cause or exc):
        return ItemTooLarge(
            f"job item {job_id!r} cannot be written: it would pass DynamoDB's "
            f"{ITEM_LIMIT_BYTES // 1024} KB item limit ({exc.cause or exc}). Something the job "
            f"keeps on its item grew too large (counters, parameters, summary); the last commit "
            f"is kept",
            job_id=job_id,
        )
    return CorruptItem(
        f"job item {job_id!r} cannot be written: {exc.cause or exc}; an attribute has "
        f"the wrong type",
        job_id=job_id,
    )


def error_code(exc: PynamoDBException) -> str:
    """The AWS error code behind a pynamodb error, or "" for connection-level failures.

    pynamodb's own `cause_response_code` raises AttributeError when the cause is a botocore
    ReadTimeoutError or ConnectionClosedError (their `response` is None).
    """
    response = getattr(exc.cause, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Applied:
    """The write is on the item; `item` is the item after it (as returned or read back)."""

    item: JobModel
    retried: bool = False


@dataclass(frozen=True)
class Refused:
    """The condition failed and the write is not on the item; `item` is it as read (None: gone)."""

    item: JobModel | None


@dataclass(frozen=True)
class GuardRefused:
    """The guard item's condition failed, so nothing was written; `item` is the item the write
    would have created, as read (None: it does not exist)."""

    item: JobModel | None


Outcome = Applied | Refused


class Writer:
    """Sends conditional writes for one model and decides applied / refused / unknown."""

    def __init__(self, model: type[JobModel]) -> None:
        self.model = model

    def update(
        self,
        job_id: str,
        actions: list[Action],
        condition: Condition,
        token: str | None,
    ) -> Outcome:
        """One UpdateItem; with a token, the write sets `last_write` to it."""
        item = self.model(job_id)
        if token is not None:
            actions = [*actions, self.model.last_write.set(token)]
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            return self._settle(job_id, exc, token)
        except (ValueError, TypeError) as exc:
            # Written; only decoding the returned attributes failed.
            raise CorruptItem(
                f"job item {job_id!r} is malformed ({type(exc).__name__}: {exc})", job_id=job_id
            ) from exc
        return Applied(item)

    def put(self, item: JobModel, condition: Condition, token: str) -> Outcome:
        """One PutItem of a whole item, carrying the token."""
        item.last_write = token
        try:
            item.save(condition=condition)
        except PutError as exc:
            return self._settle(str(item.job_id), exc, token)
        return Applied(item)

    def put_guarded(
        self,
        item: JobModel,
        condition: Condition,
        token: str,
        guard_key: str,
        guard: Condition,
    ) -> Outcome | GuardRefused:
        """Put `item` on `condition` only if the item `guard_key` meets `guard`, atomically."""
        job_id = str(item.job_id)
        connection = self.model._get_connection().connection
        tokens = [token]
        for attempt in range(GUARDED_ATTEMPTS):
            item.last_write = tokens[-1]
            try:
                with TransactWrite(connection=connection, client_request_token=tokens[-1]) as tx:
                    tx.condition_check(self.model, guard_key, condition=guard)
                    tx.save(item, condition=condition)
            except TransactWriteError as exc:
                outcome = self._settle_guarded(job_id, exc, tokens)
                if outcome is not None:
                    return outcome
                if attempt + 1 < GUARDED_ATTEMPTS:
                    tokens.append(new_token())  # nothing was written: a new request
                    continue
                raise WriteUnknown(
                    f"job {job_id!r}: its create kept meeting other writes on the same items "
                    f"({exc.cause or exc}); nothing was written",
                    job_id=job_id,
                ) from exc
            return Applied(item)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_back(self, job_id: str, exc: PynamoDBException, what: str) -> JobModel | None:
        """The item as it is now, to settle a write whose answer was an error; a failed read
        leaves the outcome unknown."""
        try:
            return self.read(job_id)
        except PynamoDBException as read_exc:
            raise WriteUnknown(
                f"job {job_id!r}: {what} ({exc.cause or exc}), and reading the item back failed "
                f"({read_exc.cause or read_exc})",
                job_id=job_id,
            ) from exc

    def _settle_guarded(
        self, job_id: str, exc: TransactWriteError, tokens: list[str]
    ) -> Outcome | GuardRefused | None:
        """Applied (an attempt of ours is on the item), refused by the guard or by the item's own
        condition, or None: cancelled by a conflicting write only, nothing written."""
        code = error_code(exc)
        if code in REJECTED:
            raise rejected(job_id, exc) from exc
        current = self._read_back(job_id, exc, "create of unknown outcome")
        if current is not None and current.last_write in tokens:
            return Applied(current, retried=True)
        if code in THROTTLED:
            raise CreateThrottled(
                f"job {job_id!r}: create throttled ({exc.cause or exc}); not on the item",
                job_id=job_id,
            ) from exc
        if code != TRANSACTION_CANCELED:
            raise WriteUnknown(
                f"job {job_id!r}: create of unknown outcome ({exc.cause or exc}); it may still "
                f"land",
                job_id=job_id,
            ) from exc
        reasons = [r.code if r is not None else None for r in exc.cancellation_reasons]
        if THROTTLED_REASON in reasons and CHECK_FAILED not in reasons:
            raise CreateThrottled(
                f"job {job_id!r}: create cancelled for throughput ({exc.cause or exc}); not on "
                f"the item",
                job_id=job_id,
            ) from exc
        guard, put = [*reasons, None, None][:2]
        if guard == CHECK_FAILED:
            return GuardRefused(current)
        if put == CHECK_FAILED:
            return Refused(current)
        if CONFLICT in reasons:
            return None
        raise WriteUnknown(
            f"job {job_id!r}: create cancelled ({exc.cause or exc}, reasons {reasons})",
            job_id=job_id,
        ) from exc

    def _settle(self, job_id: str, exc: UpdateError | PutError, token: str | None) -> Outcome:
        code = error_code(exc)
        if code in REJECTED:
            raise rejected(job_id, exc) from exc
        if code == TRANSACTION_CONFLICT and token is None:
            # An operator's flag met a shard's create checking this item: refused, so the
            # caller reads the item again and asks again (it is idempotent under its condition).
            return Refused(
                self._read_back(job_id, exc, "write refused by a concurrent transaction")
            )
        if code != CONDITION_FAILED and token is None:
            raise WriteUnknown(
                f"job {job_id!r}: write of unknown outcome ({exc.cause or exc})", job_id=job_id
            ) from exc
        current = self._read_back(job_id, exc, "write of unknown outcome")
        if token is not None and current is not None and current.last_write == token:
            return Applied(current, retried=True)
        if code != CONDITION_FAILED:
            raise WriteUnknown(
                f"job {job_id!r}: write of unknown outcome ({exc.cause or exc}); it may still land",
                job_id=job_id,
            ) from exc
        return Refused(current)

    def read(self, job_id: str) -> JobModel | None:
        """The item, consistent; None when it does not exist."""
        try:
            return self.model.get(job_id, consistent_read=True)
        except DoesNotExist:
            return None
        except (ValueError, TypeError) as exc:
            raise CorruptItem(
                f"job item {job_id!r} is malformed ({type(exc).__name__}: {exc}); fix or delete it",
                job_id=job_id,
            ) from exc
