"""Job reports: one JSON Lines object per ended job in the state bucket, its location on the item.

The report is written before the terminal commit that records it, so a job that ended always
points to a complete report; a crash in between leaves at most one report nobody points to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from baton.store.constants import REPORT_PREFIX
from baton.store.errors import BatonError
from baton.store.records import Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ReportMissing(BatonError):
    """The job has no report, or its report object is gone."""


def encode_lines(lines: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(line, ensure_ascii=False, sort_keys=True, default=str).encode() + b"\n"
        for line in lines
    )


class ReportStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def write(self, job_id: str, epoch: int, lines: Iterable[dict[str, Any]]) -> dict[str, str]:
        body = encode_lines(lines)
        key = f"{REPORT_PREFIX}{job_id}/{epoch:010d}.jsonl"
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson"
        )
        return {"bucket": self.bucket, "key": key, "bytes": str(len(body))}

    def write_ended(
        self,
        job: Job,
        status: JobStatus,
        counters: Mapping[str, int],
        error: str | None,
        summary: dict[str, Any],
        lines: Iterable[dict[str, Any]],
    ) -> dict[str, str]:
        """The report of a job ending with `status`: its header line, then the task's lines."""
        header = {
            "type": "job",
            "job_id": job.job_id,
            "task": job.task,
            "params": job.params,
            "status": status.value,
            "counters": dict(counters),
            "epoch": job.epoch,
            "hops": job.hops,
            "created_at": job.created_at,
            "error": error,
            "summary": summary,
        }
        return self.write(job.job_id, job.epoch, [header, *lines])


def read_report(s3: S3Client, ref: dict[str, str]) -> bytes:
    try:
        body: bytes = s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise ReportMissing(
                f"the report s3://{ref['bucket']}/{ref['key']} is gone ({code})"
            ) from exc
        raise
    return body
