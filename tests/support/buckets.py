"""Buckets full of awkward keys, with the truth the tests compare against."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

KINDS = 8


@dataclass(frozen=True)
class BucketTruth:
    bucket: str
    sizes: dict[str, int]

    def under(self, prefix: str) -> dict[str, int]:
        return {k: v for k, v in self.sizes.items() if k.startswith(prefix)}

    def counters(self, prefix: str = "") -> dict[str, int]:
        chosen = self.under(prefix)
        return {"objects": len(chosen), "bytes": sum(chosen.values())}


def awkward_key(i: int) -> str:
    """Spaces, unicode, +, %, deep prefixes, double slashes and 1,000-byte keys."""
    kind = i % KINDS
    if kind == 0:
        return f"plain/{i:05d}.txt"
    if kind == 1:
        return f"with space/file {i} name .txt"
    if kind == 2:
        return f"unicode/ünïcødé-{i}-日本語-😀.bin"
    if kind == 3:
        return f"plus+sign/{i}+a+b=c&d.txt"
    if kind == 4:
        return f"percent%20/{i}%2F%zz?#x.txt"
    if kind == 5:
        return "/".join(f"d{j}" for j in range(40)) + f"/{i}"
    if kind == 6:
        head = f"long/{i:05d}-"
        return head + "k" * (1000 - len(head.encode()))
    return f"a//b/./../{i}~!*'().txt"


def fill_bucket(s3: object, bucket: str, count: int) -> BucketTruth:
    sizes: dict[str, int] = {}
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    for i in range(count):
        key = awkward_key(i)
        size = (i * 37) % 1_500
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)  # type: ignore[attr-defined]
        sizes[key] = size
    return BucketTruth(bucket=bucket, sizes=sizes)


@contextmanager
def bucket_of(bucket: str, keys: Iterable[str]) -> Iterator[Any]:
    """Inside moto: an S3 client and `bucket` holding `keys` (one byte each)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=b"x")
        yield client
