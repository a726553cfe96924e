"""ListObjectsV2 pages of one key range, with the next page requested while this one is worked.

A page is fetched (request, wait, parse) on a background worker, so the walk processes one page
while S3 prepares the next. The prefetched page is only a buffer of the hop: the walk's cursor
is the last key it finished, never the last key listed, and a new hop lists again from its
committed cursor (a prefetch is never trusted across hops).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from baton.handler.actions import ObjectRef
from baton.handler.tasks.framework.work_pool import PoolFactory, WorkPool, wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Page:
    objects: list[ObjectRef]
    # The last key S3 returned (in range or not): where the next page starts.
    last_listed: str | None
    # Nothing more to list: S3 said so, or the page reached the range's end.
    listed_all: bool


@dataclass(frozen=True)
class KeyRange:
    """The keys a walk visits: under `prefix`, from `start_at` (inclusive) to `end_before`."""

    bucket: str
    prefix: str
    start_at: str | None
    end_before: str | None


class Lister:
    """Lists pages of a key range in order, at most one page ahead."""

    def __init__(self, s3: S3Client, keys: KeyRange, pools: PoolFactory) -> None:
        self.s3 = s3
        self.keys = keys
        self._pools = pools
        self._pool: WorkPool | None = None
        self._ahead: tuple[str | None, Future[Page]] | None = None

    def page(self, after: str | None, max_keys: int) -> Page:
        """The page after `after`: the prefetched one when it was asked for that, else now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after and self._pool is not None:
            wait_for(self._pool, ahead[1])
            return ahead[1].result()
        if ahead is not None:
            ahead[1].cancel()
        return self.fetch(after, max_keys)

    def prefetch(self, after: str | None, max_keys: int) -> None:
        """Request the page after `after` in the background; `page(after, ...)` collects it."""
        if self._pool is None:
            self._pool = self._pools(1)
        self._ahead = (after, self._pool.submit(lambda: self.fetch(after, max_keys)))

    def close(self) -> None:
        """Drop the page ahead (the next hop lists from its own cursor) and the worker."""
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def fetch(self, after: str | None, max_keys: int) -> Page:
        request: dict[str, Any] = {
            "Bucket": self.keys.bucket,
            "Prefix": self.keys.prefix,
            "MaxKeys": max_keys,
        }
        if after:
            request["StartAfter"] = after
        reply = self.s3.list_objects_v2(**request)
        objects, last, reached_end = self._in_range(reply.get("Contents", []))
        listed_all = reached_end or not reply.get("IsTruncated", False)
        return Page(objects, last, listed_all)

    def _in_range(self, contents: list[Any]) -> tuple[list[ObjectRef], str | None, bool]:
        """The page's objects inside [start_at, end_before), the last key listed, and whether
        the range ended on this page."""
        bucket = self.keys.bucket
        start_at, end_before = self.keys.start_at, self.keys.end_before
        objects: list[ObjectRef] = []
        append = objects.append
        # ObjectRef's own __new__ is a Python call that only builds this tuple: once per listed
        # object, its frame was a fifth of the cost of making one.
        make = tuple.__new__
        last: str | None = None
        for item in contents:
            key = item["Key"]
            last = key
            if start_at is not None and key < start_at:
                continue  # listed from just below start_at; not this walk's key
            if end_before is not None and key >= end_before:
                return objects, last, True
            get = item.get
            fields = (
                bucket,
                key,
                int(get("Size", 0)),
                str(get("ETag", "")).strip('"'),
                str(get("StorageClass", "STANDARD")),
                get("LastModified"),
            )
            append(make(ObjectRef, fields))
        return objects, last, False
