"""The task state codec: canonical JSON compressed with zlib, inline on the item or spilled to S3.

Inline while the compressed state fits the inline budget. Above it, the compressed bytes go to a
new S3 object (never overwritten: a crash between the S3 write and the item commit must leave
the committed pointer valid) and the item stores `{bucket, key, sha256, size}`. The item write
that points to the object is the commit; loading verifies the hash and size.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from baton.store.constants import STATE_INLINE_LIMIT_BYTES, STATE_MAX_BYTES, STATE_PREFIX
from baton.store.errors import StateBucketMissing, StateCorrupt, StateNotJson, StateTooLarge

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CODEC_JSON_ZLIB = "json+zlib"


@dataclass(frozen=True)
class StateRef:
    """Where a spilled state lives, and what its bytes must hash to."""

    bucket: str
    key: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StateRef:
        try:
            return cls(str(raw["bucket"]), str(raw["key"]), str(raw["sha256"]), int(raw["size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateCorrupt(f"state_ref on the job item is malformed: {raw!r}") from exc

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class EncodedState:
    """The state ready for the item: inline bytes, or a reference to the object just written."""

    codec: str
    raw_size: int
    blob: bytes | None = None
    ref: StateRef | None = None


def non_string_key(value: Any, path: str = "state") -> str | None:
    """Where `value` holds a dict key that is not a string, else None.

    `json.dumps` would turn such a key into a string without a word ({1: x} comes back as
    {"1": x}), so a task reading its state back would silently see another state.
    """
    stack = [(value, path)]
    seen: set[int] = set()  # each container once: a cycle is json.dumps's to refuse
    while stack:
        node, where = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            if id(node) in seen:
                continue
            seen.add(id(node))
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    return f"{where}: key {key!r} ({type(key).__name__})"
                stack.append((child, f"{where}[{key!r}]"))
        elif isinstance(node, (list, tuple)):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(node))
    return None


def to_json_bytes(value: Any) -> bytes:
    """Canonical JSON: the same state always gives the same bytes, and reads back equal."""
    bad_key = non_string_key(value)
    if bad_key is not None:
        raise StateNotJson(
            f"task state must be JSON (dicts with string keys, lists, str, int, float, bool): "
            f"{bad_key} would come back as a string"
        )
    try:
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise StateNotJson(
            f"task state must be JSON (dicts, lists, str, int, float, bool): {exc}"
        ) from exc


def decode_state(blob: bytes, codec: str | None) -> Any:
    if codec != CODEC_JSON_ZLIB:
        raise StateCorrupt(f"unknown state codec {codec!r}; expected {CODEC_JSON_ZLIB!r}")
    try:
        return json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateCorrupt(f"stored state cannot be decoded ({CODEC_JSON_ZLIB}): {exc}") from exc


def s3_error_code(exc: Exception) -> str:
    """The error code of an S3 call's `ClientError` ("NoSuchBucket"), else ""."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


class StateCodec:
    """Encodes states for commits and loads them back; spills to S3 when a bucket is set."""

    def __init__(
        self,
        s3: S3Client | None = None,
        bucket: str | None = None,
        inline_limit: int = STATE_INLINE_LIMIT_BYTES,
        max_bytes: int = STATE_MAX_BYTES,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.inline_limit = inline_limit
        self.max_bytes = max_bytes

    def encode(self, job_id: str, epoch: int, state: Any) -> EncodedState:
        raw = to_json_bytes(state)
        if len(raw) > self.max_bytes:
            raise StateTooLarge(
                f"task state is {len(raw):,} bytes of JSON, over the {self.max_bytes:,}-byte "
                f"limit: a task must keep its state small (a cursor and aggregates) and put "
                f"bulk results elsewhere; the last committed state and counters are kept"
            )
        blob = zlib.compress(raw, 6)
        if len(blob) <= self.inline_limit:
            return EncodedState(codec=CODEC_JSON_ZLIB, raw_size=len(raw), blob=blob)
        if self.s3 is None or not self.bucket:
            raise StateTooLarge(
                f"task state is {len(raw):,} bytes ({len(blob):,} compressed), over the inline "
                f"limit of {self.inline_limit:,} compressed bytes; set BATON_STATE_BUCKET to "
                f"spill larger states to S3"
            )
        key = f"{STATE_PREFIX}{job_id}/{epoch:010d}-{secrets.token_hex(6)}.json.zz"
        digest = hashlib.sha256(blob).hexdigest()
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=blob,
                ContentType="application/zlib",
                Metadata={"job-id": job_id, "epoch": str(epoch), "sha256": digest},
            )
        except ClientError as exc:
            if s3_error_code(exc) != "NoSuchBucket":
                raise
            raise StateBucketMissing(
                f"task state is {len(blob):,} compressed bytes, over the inline limit of "
                f"{self.inline_limit:,}, so it goes to the state bucket {self.bucket!r} "
                f"(BATON_STATE_BUCKET), which does not exist: create it with `baton init` (or "
                f"deploy the stack); the last committed state and counters are kept"
            ) from exc
        ref = StateRef(bucket=self.bucket, key=key, sha256=digest, size=len(blob))
        return EncodedState(codec=CODEC_JSON_ZLIB, raw_size=len(raw), ref=ref)

    def load(self, blob: bytes | None, ref: StateRef | None, codec: str | None) -> Any:
        if ref is None:
            if blob is None:
                return None
            return decode_state(blob, codec)
        return decode_state(self.fetch(ref), codec)

    def fetch(self, ref: StateRef) -> bytes:
        """The spilled bytes, verified against the size and hash the commit recorded."""
        if self.s3 is None:
            raise StateCorrupt(f"the state is in {ref.uri} but no S3 client is configured")
        try:
            body = self.s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
        except ClientError as exc:
            code = s3_error_code(exc)
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
                gone = (
                    f"its bucket {ref.bucket!r} (BATON_STATE_BUCKET) does not exist"
                    if code == "NoSuchBucket"
                    else "it is missing"
                )
                raise StateCorrupt(
                    f"the committed state object {ref.uri} cannot be read: {gone}; the job "
                    f"cannot continue on a state it cannot read"
                ) from exc
            raise
        digest = hashlib.sha256(body).hexdigest()
        if len(body) != ref.size or digest != ref.sha256:
            raise StateCorrupt(
                f"state object {ref.uri} does not match its commit: {len(body):,} bytes with "
                f"sha256 {digest[:16]}..., expected {ref.size:,} bytes with sha256 "
                f"{ref.sha256[:16]}..."
            )
        return body

    def discard(self, ref: StateRef | None) -> None:
        """Delete a superseded or orphaned state object; best effort (a lifecycle rule backs it)."""
        if ref is None or self.s3 is None:
            return
        try:
            self.s3.delete_object(Bucket=ref.bucket, Key=ref.key)
        except ClientError:
            return
