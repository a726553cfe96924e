"""S3 Inventory reports: the manifest, its CSV.gz files, and their rows as ObjectRefs.

S3 Inventory writes `manifest.json` (the source bucket, the file format, the `fileSchema`
column list, and one entry per data file with its key, size and `MD5checksum`) beside data
files under the destination bucket. CSV files are gzip-compressed, carry no header, quote every
field, and URL-encode object keys. A data file is read whole and its MD5 checked before any of
its rows is used, so a damaged or replaced file fails the job instead of walking wrong keys.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from baton.handler.actions import ObjectRef
from baton.handler.tasks.framework.base import JobFailure
from baton.store.errors import InvalidJob

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_DEST_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$")
MAX_MANIFEST_BYTES = 64 * 1024**2
READ_CHUNK = 1024**2
SPOOL_IN_MEMORY = 16 * 1024**2
# Left free in /tmp beside a spooled data file (Lambda's /tmp is the function's
# EphemeralStorage, 512 MB unless the template's WorkerEphemeralStorageMB says more).
TMP_HEADROOM = 16 * 1024**2
SUPPORTED_FORMAT = "CSV"
UNSUPPORTED = {
    "ORC": "ORC",
    "PARQUET": "Parquet",
}


def parse_s3_uri(uri: object, what: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` string; InvalidJob naming `what` otherwise."""
    match = _S3_URI.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidJob(f"{what} must be s3://bucket/key, got {uri!r}")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class DataFile:
    key: str
    size: int | None
    md5: str


@dataclass(frozen=True)
class Manifest:
    uri: str
    etag: str
    files_bucket: str
    source_bucket: str
    columns: tuple[str, ...]
    files: tuple[DataFile, ...]

    def column(self, name: str) -> int | None:
        return self.columns.index(name) if name in self.columns else None


def _client_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_manifest(s3: S3Client, uri: str, etag: str | None) -> Manifest:
    """Read and check `manifest.json`; with `etag`, only that version of it (If-Match)."""
    bucket, key = parse_s3_uri(uri, "manifest")
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if etag:
        request["IfMatch"] = f'"{etag}"'
    try:
        answer = s3.get_object(**request)
    except ClientError as exc:
        code = _client_code(exc)
        if code in ("PreconditionFailed", "412"):
            raise JobFailure(
                f"manifest {uri} was replaced during the walk (its ETag is no longer {etag}); "
                f"the cursor belongs to the old report: start a new job for the new one"
            ) from exc
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise JobFailure(f"manifest {uri} does not exist ({code})") from exc
        raise
    if int(answer.get("ContentLength", 0)) > MAX_MANIFEST_BYTES:
        raise JobFailure(f"manifest {uri} is over {MAX_MANIFEST_BYTES:,} bytes: not a manifest")
    body = answer["Body"].read()
    return parse_manifest(body, uri, str(answer.get("ETag", "")).strip('"'), bucket)


def _fail(uri: str, why: str) -> JobFailure:
    return JobFailure(f"manifest {uri} is malformed: {why}")


def parse_manifest(body: bytes, uri: str, etag: str, manifest_bucket: str) -> Manifest:
    """The manifest's files and columns; JobFailure with the reason when it is not usable."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(uri, f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _fail(uri, "not a JSON object")
    fmt = doc.get("fileFormat")
    if not isinstance(fmt, str):
        raise _fail(uri, "no fileFormat")
    if fmt.upper() != SUPPORTED_FORMAT:
        name = UNSUPPORTED.get(fmt.upper(), fmt)
        raise JobFailure(
            f"manifest {uri} lists {name} files; baton reads S3 Inventory reports in CSV format "
            f"only ({name} needs a columnar reader too large for the Lambda package): configure "
            f"the inventory's output format as CSV"
        )
    schema = doc.get("fileSchema")
    if not isinstance(schema, str) or not schema.strip():
        raise _fail(uri, "no fileSchema (the CSV column list)")
    columns = tuple(c.strip() for c in schema.split(","))
    for needed in ("Bucket", "Key"):
        if needed not in columns:
            raise _fail(uri, f"fileSchema has no {needed} column: {schema!r}")
    files = doc.get("files")
    if not isinstance(files, list):
        raise _fail(uri, "no files list")
    parsed = tuple(_data_file(entry, i, uri) for i, entry in enumerate(files))
    source = doc.get("sourceBucket")
    if not isinstance(source, str) or not source:
        raise _fail(uri, "no sourceBucket")
    dest = doc.get("destinationBucket")
    files_bucket = manifest_bucket
    if isinstance(dest, str) and dest:
        match = _DEST_ARN.match(dest)
        files_bucket = match.group(1) if match else dest
    return Manifest(uri, etag, files_bucket, source, columns, parsed)


def _data_file(entry: object, index: int, uri: str) -> DataFile:
    if not isinstance(entry, dict):
        raise _fail(uri, f"files[{index}] is not an object")
    key, md5, size = entry.get("key"), entry.get("MD5checksum"), entry.get("size")
    if not isinstance(key, str) or not key:
        raise _fail(uri, f"files[{index}] has no key")
    if not isinstance(md5, str) or not _MD5.match(md5):
        raise _fail(uri, f"files[{index}] ({key}) has no MD5checksum of 32 hex digits")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise _fail(uri, f"files[{index}] ({key}) has a size that is not a whole number")
    return DataFile(key=key, size=size, md5=md5.lower())


def open_rows(s3: S3Client, manifest: Manifest, index: int) -> Iterator[list[str]]:
    """The rows of data file `index`, after its whole body matched the manifest's MD5.

    The compressed body is spooled (in memory up to 16 MiB, then /tmp) while it is hashed, then
    decompressed and parsed as it is read: memory stays flat whatever the file's size. /tmp is
    bounded: a file that cannot fit fails the job at once, saying what to change, instead of
    filling the disk mid-download (OSError: no space left, retried to no end).
    """
    entry = manifest.files[index]
    where = f"inventory file {index} (s3://{manifest.files_bucket}/{entry.key})"
    room = tmp_room()
    if entry.size is not None and entry.size > max(room, SPOOL_IN_MEMORY):
        raise JobFailure(_too_big(where, entry.size, room))
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    try:
        body = s3.get_object(Bucket=manifest.files_bucket, Key=entry.key)["Body"]
    except ClientError as exc:
        if _client_code(exc) in ("NoSuchKey", "404"):
            raise JobFailure(f"{where} does not exist; the manifest lists it") from exc
        raise
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := body.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if size > max(room, SPOOL_IN_MEMORY):
            spool.close()
            raise JobFailure(_too_big(where, size, room))
        spool.write(chunk)
    if entry.size is not None and size != entry.size:
        spool.close()
        raise JobFailure(f"{where} has {size:,} bytes, the manifest says {entry.size:,}")
    if digest.hexdigest() != entry.md5:
        spool.close()
        raise JobFailure(
            f"{where} fails its checksum: MD5 {digest.hexdigest()}, the manifest says {entry.md5}"
        )
    spool.seek(0)
    return _rows(spool, where, len(manifest.columns))


def tmp_room() -> int:
    """Bytes a spooled data file may take in the temporary directory (its free space, less a
    headroom)."""
    return max(0, shutil.disk_usage(tempfile.gettempdir()).free - TMP_HEADROOM)


def _too_big(where: str, size: int, room: int) -> str:
    mib = 1024**2
    return (
        f"{where} is {size / mib:,.0f} MiB (at least) and /tmp has room for {room / mib:,.0f} MiB:"
        f" each data file is checked whole before its rows are used. Deploy with a larger "
        f"WorkerEphemeralStorageMB (up to 10240), then resume the job"
    )


def _rows(spool: Any, where: str, width: int) -> Iterator[list[str]]:
    with spool, gzip.GzipFile(fileobj=spool, mode="rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            for number, row in enumerate(csv.reader(text)):
                if len(row) != width:
                    raise JobFailure(
                        f"{where} row {number} has {len(row)} fields; fileSchema names {width}"
                    )
                yield row
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise JobFailure(f"{where} is not gzip-compressed UTF-8 CSV: {exc}") from exc


class RowReader:
    """Turns rows of a manifest's schema into ObjectRefs (keys URL-decoded)."""

    def __init__(self, manifest: Manifest) -> None:
        self.bucket = manifest.column("Bucket")
        self.key = manifest.column("Key")
        self.size = manifest.column("Size")
        self.etag = manifest.column("ETag")
        self.storage_class = manifest.column("StorageClass")
        self.modified = manifest.column("LastModifiedDate")
        self.delete_marker = manifest.column("IsDeleteMarker")

    def is_delete_marker(self, row: list[str]) -> bool:
        return self.delete_marker is not None and row[self.delete_marker].lower() == "true"

    def object_ref(self, row: list[str], where: str) -> ObjectRef:
        assert self.bucket is not None and self.key is not None
        size = 0
        if self.size is not None and row[self.size]:
            try:
                size = int(row[self.size])
            except ValueError:
                raise JobFailure(f"{where}: Size {row[self.size]!r} is not a number") from None
        modified = None
        if self.modified is not None and row[self.modified]:
            try:
                modified = datetime.fromisoformat(row[self.modified])
            except ValueError:
                modified = None
        return ObjectRef(
            row[self.bucket],
            unquote_plus(row[self.key]),
            size,
            row[self.etag].strip('"') if self.etag is not None else "",
            (row[self.storage_class] if self.storage_class is not None else "") or "STANDARD",
            modified,
        )
