"""Sample inputs for the demo and the tests: an S3 Inventory report (manifest.json and CSV.gz
files, as S3 Inventory writes them) and JSON Lines objects, with the truth to check against."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

SCHEMA = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
)


@dataclass(frozen=True)
class InventoryTruth:
    manifest_uri: str
    rows: int
    bytes: int
    keys: tuple[str, ...]
    files: tuple[str, ...]

    def counters(self) -> dict[str, int]:
        return {"objects": self.rows, "bytes": self.bytes}


def inventory_key(i: int) -> str:
    """Keys inventory has to URL-encode: spaces, plus signs, percents, unicode."""
    kind = i % 4
    if kind == 0:
        return f"plain/{i:06d}.txt"
    if kind == 1:
        return f"with space/{i} a+b.txt"
    if kind == 2:
        return f"percent%41/{i}%zz.bin"
    return f"unicode/日本-{i}.json"


def csv_gz(rows: list[list[str]]) -> bytes:
    """A data file as S3 Inventory writes it: every field quoted, no header, gzip."""
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode())


def put_inventory(
    s3: Any,
    dest_bucket: str,
    source_bucket: str,
    objects: int,
    files: int,
    *,
    prefix: str = "inventory/src/2026-12-01T00-00Z",
    file_format: str = "CSV",
) -> InventoryTruth:
    """Write `files` CSV.gz data files listing `objects` objects, and their manifest.json."""
    keys = [inventory_key(i) for i in range(objects)]
    sizes = [(i * 37) % 5_000 for i in range(objects)]
    per_file = -(-objects // files)
    entries, file_keys = [], []
    for f in range(files):
        rows = [
            [
                source_bucket,
                quote_plus(keys[i], safe="/"),
                "",
                "true",
                "false",
                str(sizes[i]),
                "2026-11-30T10:00:00.000Z",
                hashlib.md5(str(i).encode()).hexdigest(),
                "STANDARD" if i % 3 else "GLACIER",
            ]
            for i in range(f * per_file, min(objects, (f + 1) * per_file))
        ]
        body = csv_gz(rows)
        key = f"{prefix}/files/part-{f:03d}.csv.gz"
        s3.put_object(Bucket=dest_bucket, Key=key, Body=body)
        entries.append(
            {"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}
        )
        file_keys.append(key)
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{dest_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1764547200000",
        "fileFormat": file_format,
        "fileSchema": ", ".join(SCHEMA),
        "files": entries,
    }
    manifest_key = f"{prefix}/manifest.json"
    s3.put_object(Bucket=dest_bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    return InventoryTruth(
        manifest_uri=f"s3://{dest_bucket}/{manifest_key}",
        rows=objects,
        bytes=sum(sizes),
        keys=tuple(keys),
        files=tuple(file_keys),
    )


def json_lines(records: int, *, width: int = 0, start: int = 0) -> bytes:
    """`records` JSON objects, one per line, their lengths varying; `width` pads each one."""
    lines = []
    for i in range(start, start + records):
        pad = "x" * ((i * 7919) % 97 + width)
        lines.append(json.dumps({"id": i, "name": f"record {i}", "pad": pad}))
    return ("\n".join(lines) + "\n").encode()
