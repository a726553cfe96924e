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
leave `last_write` alone, so a holder's chain of writes (store/protocol.py) is not broken.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from baton.store.errors import CorruptItem, WriteUnknown
from baton.store.model import JobModel

CONDITION_FAILED = "ConditionalCheckFailedException"
# Errors that say the request was rejected before it could change anything.
REJECTED = frozenset({"ValidationException", "SerializationException"})


def new_token() -> str:
    """A token unique to one write call (botocore's retries resend the same request)."""
    return secrets.token_hex(8)


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

    def _settle(self, job_id: str, exc: UpdateError | PutError, token: str | None) -> Outcome:
        code = error_code(exc)
        if code in REJECTED:
            raise CorruptItem(
                f"job item {job_id!r} cannot be written: {exc.cause or exc}; an attribute has "
                f"the wrong type",
                job_id=job_id,
            ) from exc
        if code != CONDITION_FAILED and token is None:
            raise WriteUnknown(
                f"job {job_id!r}: write of unknown outcome ({exc.cause or exc})", job_id=job_id
            ) from exc
        try:
            current = self.read(job_id)
        except PynamoDBException as read_exc:
            raise WriteUnknown(
                f"job {job_id!r}: write of unknown outcome ({exc.cause or exc}), and reading "
                f"the item back failed ({read_exc.cause or read_exc})",
                job_id=job_id,
            ) from exc
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
