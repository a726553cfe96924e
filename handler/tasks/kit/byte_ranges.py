"""Records of a large S3 object read through ranged GETs, with a byte-offset cursor.

A `RecordSplitter` turns a sequence of byte chunks into records (one line of JSON Lines, or one
CSV record, whose quoted fields may hold newlines) and knows each record's offset, so a cursor
at a record boundary restarts the read exactly there. It keeps at most the unfinished tail of
one chunk plus the next chunk: memory is bounded by twice the range size, whatever the object's
size. A record longer than the range size is an error, never a silent cut.

Every GET carries If-Match with the ETag the walk started the object with: an object replaced
during the walk fails the job instead of mixing bytes of two versions under one cursor.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from baton.handler.tasks.framework.base import JobFailure

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1024**2


class ChunkSource(Protocol):
    def read_into(self, offset: int, size: int, into: bytearray) -> int:
        """Append up to `size` bytes at `offset` to `into` (reads go forward); 0 at the end.

        Appending chunk by chunk keeps one copy of a range in memory, not the body's chunks
        and their join besides."""


def replaced(where: str, etag: str, exc: Exception) -> JobFailure:
    return JobFailure(
        f"{where} was replaced during the walk (its ETag is no longer {etag}); records of two "
        f"versions would mix under one cursor: start a new job for the new object"
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class RangedObject:
    """A plain object read by ranged GETs, each fenced with If-Match on the walk's ETag."""

    def __init__(self, s3: S3Client, bucket: str, key: str, etag: str, size: int) -> None:
        self.s3, self.bucket, self.key, self.etag, self.size = s3, bucket, key, etag, size
        self.where = f"s3://{bucket}/{key}"
        self.gets = 0

    def read_into(self, offset: int, size: int, into: bytearray) -> int:
        if offset >= self.size:
            return 0
        last = min(self.size, offset + size) - 1
        try:
            answer = self.s3.get_object(
                Bucket=self.bucket,
                Key=self.key,
                Range=f"bytes={offset}-{last}",
                IfMatch=f'"{self.etag}"',
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                raise replaced(self.where, self.etag, exc) from exc
            if _code(exc) in ("NoSuchKey", "404"):
                raise JobFailure(f"{self.where} was deleted during the walk") from exc
            raise
        self.gets += 1
        start = len(into)
        for chunk in answer["Body"].iter_chunks(CHUNK):
            into += chunk
        got = len(into) - start
        if offset == 0 and into[start : start + 2] == GZIP_MAGIC:
            raise JobFailure(
                f"{self.where} starts like gzip but is neither named .gz nor stored with "
                f"Content-Encoding gzip; byte ranges of compressed data are not records"
            )
        if got != last - offset + 1:
            raise JobFailure(
                f"{self.where}: asked for bytes {offset}-{last}, got {got} bytes; "
                f"the object changed size under the same ETag"
            )
        return got


class GzipObject:
    """A gzip object: not seekable, so one GET per hop streams it from the start.

    The decompressed bytes before the cursor are read and dropped (memory stays flat); the
    cursor and the counters are offsets in the decompressed stream.
    """

    def __init__(self, s3: S3Client, bucket: str, key: str, etag: str) -> None:
        self.s3, self.bucket, self.key, self.etag = s3, bucket, key, etag
        self.where = f"s3://{bucket}/{key}"
        self._stream: gzip.GzipFile | None = None
        self._pos = 0

    def _open(self) -> gzip.GzipFile:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key, IfMatch=f'"{self.etag}"')
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                raise replaced(self.where, self.etag, exc) from exc
            raise
        body: Any = answer["Body"]
        return gzip.GzipFile(fileobj=body, mode="rb")

    def read_into(self, offset: int, size: int, into: bytearray) -> int:
        if self._stream is None:
            self._stream, self._pos = self._open(), 0
        try:
            while self._pos < offset:
                skipped = self._stream.read(min(CHUNK, offset - self._pos))
                if not skipped:
                    raise JobFailure(
                        f"{self.where} ends at {self._pos:,} decompressed bytes, before the "
                        f"committed cursor {offset:,}"
                    )
                self._pos += len(skipped)
            if self._pos != offset:
                raise AssertionError(f"gzip reads go forward: at {self._pos}, asked {offset}")
            got = 0
            while got < size and (chunk := self._stream.read(min(CHUNK, size - got))):
                into += chunk
                got += len(chunk)
        except (OSError, EOFError) as exc:
            raise JobFailure(f"{self.where} is not valid gzip: {exc}") from exc
        self._pos += got
        return got


class RecordTooLarge(JobFailure):
    """A record with no end within the range size."""


class RecordSplitter:
    """Records from `offset` on: (offset, raw bytes with their line end)."""

    def __init__(self, source: ChunkSource, offset: int, range_size: int, csv: bool) -> None:
        self.source = source
        self.range_size = range_size
        self.csv = csv
        self.buf = bytearray()
        self.buf_start = offset
        self.pos = 0
        self.eof = False

    def _end(self) -> int:
        """Index just past the record starting at `pos`, or -1 if it is not all in the buffer."""
        buf = self.buf
        newline = buf.find(b"\n", self.pos)
        if not self.csv or newline == -1:
            return newline + 1 if newline != -1 else -1
        # CSV: a newline ends the record only outside quotes; doubled quotes keep the parity.
        start, quotes = self.pos, 0
        while newline != -1:
            quotes += buf.count(b'"', start, newline)
            if quotes % 2 == 0:
                return newline + 1
            start = newline + 1
            newline = buf.find(b"\n", start)
        return -1

    def _too_large(self, where: str) -> RecordTooLarge:
        return RecordTooLarge(
            f"the record at byte {self.buf_start + self.pos:,} of {where} is longer than "
            f"range_size {self.range_size:,} bytes: raise range_size (a record with its line end "
            f"must fit in one range) or check the format"
        )

    def next_record(self, where: str) -> tuple[int, bytes] | None:
        """The next record; RecordTooLarge for any record over `range_size` bytes."""
        while True:
            end = self._end()
            if end == -1 and self.eof and self.pos < len(self.buf):
                end = len(self.buf)  # the last record, without a line end
            if end != -1:
                if end - self.pos > self.range_size:
                    raise self._too_large(where)
                offset = self.buf_start + self.pos
                record = bytes(self.buf[self.pos : end])
                self.pos = end
                return offset, record
            if self.eof:
                return None
            tail_size = len(self.buf) - self.pos
            read_at = self.buf_start + len(self.buf)
            # Drop the records already handed out before reading: one range in memory at a time.
            del self.buf[: self.pos]
            self.buf_start += self.pos
            self.pos = 0
            if not self.source.read_into(read_at, self.range_size, self.buf):
                self.eof = True  # the tail, if any, is the last record (no line end)
                continue
            if tail_size >= self.range_size:
                raise self._too_large(where)
