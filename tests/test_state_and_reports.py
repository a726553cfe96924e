"""State without a ceiling: spilled to S3 and verified, crash-safe, and the reports jobs leave."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

import tests.support.growing_task  # noqa: F401 - registers the "grow" task
from baton.cli.main import app
from baton.store.codec import to_json_bytes
from baton.store.constants import STATE_INLINE_LIMIT_BYTES, STATE_PREFIX
from baton.store.records import JobStatus
from tests.support.growing_task import expected_state
from tests.support.inprocess_stack import Stack, local_stack
from tests.support.lambda_sim import Killed

STATE_BUCKET = "baton-state"
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def state_objects(job_id: str) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    listing = s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=f"{STATE_PREFIX}{job_id}/")
    return [o["Key"] for o in listing.get("Contents", [])]


def grow(stack: Stack, job_id: str, steps: int, size: int) -> None:
    params = {"seed": job_id, "steps": steps, "size": size}
    stack.start(params, task="grow", job_id=job_id, max_hops=500)


def test_a_state_many_times_the_item_limit_round_trips_byte_exact_across_many_hops(
    aws: None,
) -> None:
    """A 2 MB state (1.2 MB compressed: 18 times the inline limit, nearly 3 times the 400 KB of
    a DynamoDB item) goes to S3 on every commit. Nothing in the codec depends on the size past
    the inline limit but the 64 MiB cap (tested on its own), so a larger state proves no more."""
    with local_stack(tick_ms=350, timeout_ms=2_000, state_bucket=STATE_BUCKET) as stack:
        grow(stack, "big", steps=52, size=40_000)
        stack.sim.drain()

        job = stack.job("big")
        assert job.status is JobStatus.SUCCEEDED, job.last_error
        assert job.hops >= 10
        assert job.state_size > 2_000_000
        assert job.state_ref is not None and job.state_blob is None
        assert job.state_ref.size > 16 * STATE_INLINE_LIMIT_BYTES
        loaded = stack.store.load_state(job)
        assert to_json_bytes(loaded) == to_json_bytes(expected_state("big", 52, 40_000))
        assert state_objects("big") == [job.state_ref.key], "superseded objects are deleted"
        item_bytes = len(json.dumps(job.to_public_dict()))
        assert item_bytes < 50_000, "the item holds a pointer, not the state"


def test_state_moves_back_inline_when_it_shrinks(aws: None) -> None:
    with local_stack(state_bucket=STATE_BUCKET) as stack:
        grow(stack, "small", steps=3, size=100)
        stack.sim.drain()
        job = stack.job("small")
        assert job.state_blob is not None and job.state_ref is None
        assert state_objects("small") == []


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_a_damaged_state_object_fails_the_job_instead_of_running_on_bad_state(
    aws: None, damage: str
) -> None:
    with local_stack(tick_ms=350, timeout_ms=2_000, state_bucket=STATE_BUCKET) as stack:
        grow(stack, "victim", steps=30, size=100_000)
        for _ in range(4):  # run a few hops, then damage the committed state object
            stack.sim.deliver(stack.sim.queue.popleft())
        job = stack.job("victim")
        assert job.status is JobStatus.QUEUED and job.state_ref is not None
        s3 = boto3.client("s3", region_name=REGION)
        if damage == "corrupt":
            body = s3.get_object(Bucket=STATE_BUCKET, Key=job.state_ref.key)["Body"].read()
            flipped = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
            s3.put_object(Bucket=STATE_BUCKET, Key=job.state_ref.key, Body=flipped)
        else:
            s3.delete_object(Bucket=STATE_BUCKET, Key=job.state_ref.key)
        stack.sim.drain()

        failed = stack.job("victim")
        assert failed.status is JobStatus.FAILED
        assert failed.last_error is not None
        expected = "does not match its commit" if damage == "corrupt" else "it is missing"
        assert expected in failed.last_error and job.state_ref.key in failed.last_error
        assert failed.counters == job.counters, "nothing was counted on bad state"
        assert not stack.sim.errors, "a permanent error is not retried by Lambda"


class CrashAfterStateWrite:
    """Kill the first attempt of every hand-off between the S3 write and the item commit."""

    def __init__(self) -> None:
        self.hits = 0
        self.kills = 0

    def __call__(self, point: str) -> None:
        if point != "state_written:hand_off":
            return
        self.hits += 1
        if self.hits % 2 == 1:
            self.kills += 1
            raise Killed(point)


def test_a_crash_between_the_state_write_and_the_commit_loses_nothing(aws: None) -> None:
    crash = CrashAfterStateWrite()
    with local_stack(tick_ms=350, timeout_ms=2_000, state_bucket=STATE_BUCKET) as stack:
        stack.store.fault_hook = crash
        grow(stack, "crashy", steps=40, size=50_000)
        stack.sim.drain()

        job = stack.job("crashy")
        assert job.status is JobStatus.SUCCEEDED, job.last_error
        assert crash.kills >= 3
        assert job.counters == {"chunks": 40}
        assert to_json_bytes(stack.store.load_state(job)) == to_json_bytes(
            expected_state("crashy", 40, 50_000)
        )
        leaked = len(state_objects("crashy")) - 1
        assert 0 <= leaked <= crash.kills, "each crash leaks at most the one object it wrote"


def test_without_a_state_bucket_an_oversized_state_fails_with_the_limit_named(aws: None) -> None:
    with local_stack(tick_ms=350, timeout_ms=2_000) as stack:
        grow(stack, "capped", steps=10, size=100_000)
        stack.sim.drain()
        job = stack.job("capped")
        assert job.status is JobStatus.FAILED
        assert job.last_error is not None
        assert "65,536" in job.last_error and "BATON_STATE_BUCKET" in job.last_error


# ---------------------------------------------------------------- inventory and duplicates


def content(name: str, size: int) -> bytes:
    return (hashlib.sha256(name.encode()).hexdigest() * (size // 64 + 1)).encode()[:size]


def multipart(s3: Any, bucket: str, key: str, body: bytes, part: int) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(body), part), start=1):
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=body[start : start + part]
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": n})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


@pytest.fixture
def planted(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A bucket with planted duplicates, and the truth about it."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1_024)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="planted")
    sizes: dict[str, tuple[int, str]] = {}

    def put(key: str, body: bytes, storage_class: str = "STANDARD") -> None:
        s3.put_object(Bucket="planted", Key=key, Body=body, StorageClass=storage_class)
        sizes[key] = (len(body), storage_class)

    for i in range(60):  # unique objects
        put(f"logs/2026/{i:03d}.log", content(f"unique-{i}", 300 + i))
    for i in range(5):
        put(f"img/{i}.JPG", content(f"photo-{i}", 5_000 + i), "STANDARD_IA")
    put("readme", content("readme", 10), "GLACIER")
    report_body = content("report", 4_000)  # one group of three single-part copies
    for key in ("docs/report.pdf", "backup/report.pdf", "old/report (1).pdf"):
        put(key, report_body)
    video = content("video", 5_000)  # two multipart copies with the same part layout
    for key in ("media/a.mp4", "media/copy-of-a.mp4"):
        multipart(s3, "planted", key, video, 2_000)
        sizes[key] = (len(video), "STANDARD")
    multipart(s3, "planted", "media/resized-parts.mp4", video, 2_500)  # other layout: unmatched
    sizes["media/resized-parts.mp4"] = (len(video), "STANDARD")
    put("empty/one", b"")
    put("empty/two", b"")  # empty objects are below min_size 1: not reported
    groups = {
        frozenset({"docs/report.pdf", "backup/report.pdf", "old/report (1).pdf"}): 4_000,
        frozenset({"media/a.mp4", "media/copy-of-a.mp4"}): 5_000,
    }
    return {"sizes": sizes, "groups": groups}


def report_lines(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    job = stack.job(job_id)
    assert job.report_ref is not None
    s3 = boto3.client("s3", region_name=REGION)
    body = s3.get_object(Bucket=job.report_ref["bucket"], Key=job.report_ref["key"])["Body"]
    return [json.loads(line) for line in body.read().decode().splitlines()]


def test_duplicates_reports_exactly_the_planted_groups(planted: dict[str, Any]) -> None:
    with local_stack(timeout_ms=600, min_margin_ms=200, state_bucket=STATE_BUCKET) as stack:
        stack.start({"bucket": "planted", "action": "duplicates"}, job_id="dups")
        stack.sim.drain()
        job = stack.job("dups")
        assert job.status is JobStatus.SUCCEEDED
        assert job.hops >= 3

        lines = report_lines(stack, "dups")
        assert lines[0]["type"] == "job" and lines[0]["status"] == "SUCCEEDED"
        found = {frozenset(g["keys"]): g for g in lines if g["type"] == "duplicate_group"}
        assert set(found) == set(planted["groups"])
        for keys, size in planted["groups"].items():
            assert found[keys]["saved_bytes"] == size * (len(keys) - 1)
        assert found[frozenset({"media/a.mp4", "media/copy-of-a.mp4"})]["multipart"] is True
        assert job.summary["groups"] == 2
        assert job.summary["saved_bytes"] == 4_000 * 2 + 5_000
        assert job.counters["duplicates_skipped"] == 2
        assert job.counters["objects"] == len(planted["sizes"])


def test_inventory_reports_exactly_the_planted_truth(planted: dict[str, Any]) -> None:
    sizes: dict[str, tuple[int, str]] = planted["sizes"]
    with local_stack(timeout_ms=600, min_margin_ms=200, state_bucket=STATE_BUCKET) as stack:
        params = {"bucket": "planted", "action": "inventory", "action_params": {"largest": 3}}
        stack.start(params, job_id="inv")
        stack.sim.drain()
        job = stack.job("inv")
        assert job.status is JobStatus.SUCCEEDED

        lines = report_lines(stack, "inv")
        prefixes = {r["prefix"]: (r["objects"], r["bytes"]) for r in lines if r["type"] == "prefix"}
        expected_prefixes: dict[str, list[int]] = {}
        for key, (size, _) in sizes.items():
            top = key.split("/")[0] + "/" if "/" in key else "(root)"
            entry = expected_prefixes.setdefault(top, [0, 0])
            entry[0] += 1
            entry[1] += size
        assert prefixes == {k: tuple(v) for k, v in expected_prefixes.items()}

        classes = {r["storage_class"]: r["objects"] for r in lines if r["type"] == "storage_class"}
        assert classes == {"STANDARD": len(sizes) - 6, "STANDARD_IA": 5, "GLACIER": 1}
        extensions = {r["extension"]: r["objects"] for r in lines if r["type"] == "extension"}
        assert extensions == {"log": 60, "jpg": 5, "pdf": 3, "mp4": 3, "(none)": 3}
        largest = [(r["key"], r["bytes"]) for r in lines if r["type"] == "largest"]
        assert [size for _, size in largest] == [5_004, 5_003, 5_002]
        assert job.summary["prefixes"] == len(expected_prefixes)
        assert job.summary["largest"][0] == {"key": "img/4.JPG", "bytes": 5_004}


def test_failed_objects_are_listed_in_the_report(planted: dict[str, Any]) -> None:
    from tests.support import actions

    actions.reset()
    actions.fail_always.update({"readme", "img/2.JPG"})
    with local_stack(state_bucket=STATE_BUCKET) as stack:
        params = {"bucket": "planted", "action": "tests.support.actions:record", "on_error": "skip"}
        stack.start(params, job_id="skips")
        stack.sim.drain()
        failed = {r["key"] for r in report_lines(stack, "skips") if r["type"] == "failed_object"}
        assert failed == {"readme", "img/2.JPG"}
        assert stack.job("skips").counters["failed"] == 2


def test_a_state_that_must_spill_to_a_missing_bucket_names_the_variable_and_init(
    aws: None,
) -> None:
    """The state bucket deleted under a job whose state must spill: each attempt says which
    bucket, which variable and how to make it; the job fails with its counters kept."""
    with local_stack(state_bucket=STATE_BUCKET, inline_limit=0) as stack:  # every state spills
        grow(stack, "homeless", steps=10, size=1_000)
        boto3.client("s3", region_name=REGION).delete_bucket(Bucket=STATE_BUCKET)
        stack.sim.deliver(stack.sim.queue.popleft())
        retried = stack.job("homeless")
        assert retried.status is JobStatus.QUEUED and retried.attempts == 1
        for words in (STATE_BUCKET, "BATON_STATE_BUCKET", "does not exist", "`baton init`"):
            assert words in (retried.last_error or ""), retried.last_error
        stack.sim.drain()
        failed = stack.job("homeless")
    assert failed.status is JobStatus.FAILED
    assert "BATON_STATE_BUCKET" in (failed.last_error or "")
    assert failed.counters == {} and not failed.has_state, "nothing was committed without it"


LINES_BUCKET = "lines-with-failures"


def test_a_report_lost_to_a_missing_bucket_is_said_on_the_job(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3-lines under on_error: skip with the state bucket gone: the job still ends (its failed
    records are in the summary, the last five), and it says why it has no report."""
    from tests.support import record_actions
    from tests.test_operator import operate

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=LINES_BUCKET)
    body = b'{"id": 1}\n{"id": 2, "fail": true}\n{"id": 3}\n'
    s3.put_object(Bucket=LINES_BUCKET, Key="in.jsonl", Body=body)
    record_actions.reset()
    modules = ("tests.support.record_actions",)
    with local_stack(state_bucket=STATE_BUCKET, action_modules=modules) as stack:
        operate(stack, monkeypatch)
        s3.delete_bucket(Bucket=STATE_BUCKET)
        job = stack.start(
            {
                "bucket": LINES_BUCKET,
                "key": "in.jsonl",
                "format": "jsonl",
                "on_error": "skip",
                "action": "tests.support.record_actions:remember",
            },
            task="s3-lines",
        )
        stack.sim.drain()
        done = stack.job(job.job_id)
        monkeypatch.setenv("BATON_STATE_BUCKET", STATE_BUCKET)
        report = CliRunner().invoke(app, ["report", job.job_id])
        status = CliRunner().invoke(app, ["status", job.job_id])
    assert done.status is JobStatus.SUCCEEDED and done.counters["failed"] == 1
    assert done.report_ref is None
    why = done.summary["report_error"]
    for words in (STATE_BUCKET, "BATON_STATE_BUCKET", "does not exist", "`baton init`"):
        assert words in why, why
    assert [f["offset"] for f in done.summary["last_failures"]] == [10]
    assert report.exit_code == 1 and "without a report" in report.output
    assert "BATON_STATE_BUCKET" in report.output and "Traceback" not in report.output
    assert status.exit_code == 0 and "no report written" in status.output
