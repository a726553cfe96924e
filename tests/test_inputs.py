"""The input tasks over moto and the simulated Lambda: s3-manifest (S3 Inventory reports) and
s3-lines (JSON Lines / CSV by byte range). Exact counters over many hops, and every malformed
input a clear failure."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from baton.local.demo.sample_inputs import csv_gz, json_lines, put_inventory
from baton.store.records import Job, JobStatus
from tests.support import record_actions
from tests.support.audit import check_one_holder_no_fork
from tests.support.inprocess_stack import TEST_ACTIONS, Stack, local_stack

RECORDS = "tests.support.record_actions"
INV = "inventory-dest"
SRC = "source-bucket"
DATA = "lines-data"


@pytest.fixture
def stack() -> Iterator[Stack]:
    record_actions.reset()
    with mock_aws(), local_stack(action_modules=(TEST_ACTIONS, RECORDS)) as s:
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (INV, SRC, DATA):
            s3.create_bucket(Bucket=bucket)
        yield s


def s3() -> object:
    return boto3.client("s3", region_name="us-east-1")


def run(stack: Stack, task: str, params: dict[str, object], **options: object) -> Job:
    job = stack.start(params, task=task, **options)
    stack.sim.drain()
    check_one_holder_no_fork(stack.commits)
    return stack.job(job.job_id)


def failed_with(job: Job, *words: str) -> None:
    assert job.status is JobStatus.FAILED, job.status
    assert job.last_error is not None
    for word in words:
        assert word in job.last_error, job.last_error


# ---------------------------------------------------------------------- s3-manifest


def test_an_inventory_of_three_files_is_walked_exactly_over_many_hops(stack: Stack) -> None:
    truth = put_inventory(s3(), INV, SRC, 3_000, 3)
    done = run(stack, "s3-manifest", {"manifest": truth.manifest_uri, "action": "inventory"})

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.hops >= 10
    assert {k: done.counters[k] for k in ("objects", "bytes")} == truth.counters()
    summary = done.summary or {}
    # Keys were URL-decoded: the inventory action saw "with space/" and "unicode/" prefixes.
    prefixes = {row["prefix"] for row in summary["top_prefixes"]}
    assert {"plain/", "with space/", "percent%41/", "unicode/"} <= prefixes
    classes = {row["storage_class"]: row["objects"] for row in summary["storage_classes"]}
    assert classes == {"GLACIER": 1_000, "STANDARD": 2_000}


def test_a_custom_action_sees_every_decoded_key_at_least_once_even_under_duplicates(
    stack: Stack,
) -> None:
    from tests.support import actions

    actions.reset()
    truth = put_inventory(s3(), INV, SRC, 900, 3)
    job = stack.start(
        {"manifest": truth.manifest_uri, "action": f"{TEST_ACTIONS}:record"}, task="s3-manifest"
    )
    stack.sim.drain(duplicate=True, late_rate=0.2, seed=5)
    done = stack.job(job.job_id)
    check_one_holder_no_fork(stack.commits)
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == done.counters["recorded"] == 900
    assert set(actions.seen) == set(truth.keys)


def test_a_shard_of_files_walks_only_those_files(stack: Stack) -> None:
    truth = put_inventory(s3(), INV, SRC, 300, 3)
    done = run(
        stack, "s3-manifest", {"manifest": truth.manifest_uri, "first_file": 1, "end_file": 2}
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["objects"] == 100
    for params in ({"first_file": 3}, {"end_file": 4}):
        beyond = run(stack, "s3-manifest", {"manifest": truth.manifest_uri, **params})
        failed_with(beyond, "is past the 3 files")


def test_delete_markers_are_counted_apart(stack: Stack) -> None:
    rows = [
        [SRC, "a.txt", "v1", "true", "false", "10", "", "e1", "STANDARD"],
        [SRC, "b.txt", "v2", "true", "true", "", "", "", ""],
    ]
    body = csv_gz(rows)
    manifest = {
        "sourceBucket": SRC,
        "destinationBucket": f"arn:aws:s3:::{INV}",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, "
        "LastModifiedDate, ETag, StorageClass",
        "files": [{"key": "f.csv.gz", "size": len(body), "MD5checksum": md5(body)}],
    }
    s3().put_object(Bucket=INV, Key="f.csv.gz", Body=body)
    s3().put_object(Bucket=INV, Key="m.json", Body=json.dumps(manifest).encode())
    done = run(stack, "s3-manifest", {"manifest": f"s3://{INV}/m.json"})
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == {"objects": 1, "bytes": 10, "delete_markers": 1}


def md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def put_manifest(doc: object) -> str:
    s3().put_object(Bucket=INV, Key="bad/manifest.json", Body=json.dumps(doc).encode())
    return f"s3://{INV}/bad/manifest.json"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.pop("fileSchema"), ("malformed", "fileSchema")),
        (lambda d: d.update(fileSchema="Bucket, Size"), ("no Key column",)),
        (lambda d: d.update(files="nope"), ("no files list",)),
        (lambda d: d["files"][0].pop("MD5checksum"), ("MD5checksum",)),
        (lambda d: d.update(fileFormat="ORC"), ("ORC", "CSV format only")),
        (lambda d: d.update(fileFormat="Parquet"), ("Parquet", "CSV format only")),
    ],
)
def test_malformed_manifests_fail_the_job_with_the_reason(
    stack: Stack, edit: object, words: tuple[str, ...]
) -> None:
    truth = put_inventory(s3(), INV, SRC, 30, 1)
    doc = json.loads(
        s3().get_object(Bucket=INV, Key=truth.manifest_uri.split("/", 3)[3])["Body"].read()
    )  # type: ignore[attr-defined]
    edit(doc)  # type: ignore[operator]
    done = run(stack, "s3-manifest", {"manifest": put_manifest(doc)})
    failed_with(done, *words)
    assert done.counters.get("objects", 0) == 0


def test_a_manifest_that_is_not_json_or_missing_fails_clearly(stack: Stack) -> None:
    s3().put_object(Bucket=INV, Key="junk.json", Body=b"{not json")
    failed_with(run(stack, "s3-manifest", {"manifest": f"s3://{INV}/junk.json"}), "not JSON")
    failed_with(run(stack, "s3-manifest", {"manifest": f"s3://{INV}/none.json"}), "does not exist")


@pytest.mark.parametrize("how", ["other bytes", "one byte flipped"])
def test_a_data_file_with_a_wrong_checksum_fails_before_any_of_its_rows_is_used(
    stack: Stack, how: str
) -> None:
    truth = put_inventory(s3(), INV, SRC, 300, 3)
    # The second file is replaced after the manifest was written.
    if how == "other bytes":
        body = csv_gz([[SRC, "x", "", "", "", "1", "", "", ""]])
        words: tuple[str, ...] = ("bytes, the manifest says",)
    else:
        old = bytearray(s3().get_object(Bucket=INV, Key=truth.files[1])["Body"].read())  # type: ignore[attr-defined]
        old[len(old) // 2] ^= 0xFF
        body, words = bytes(old), ("fails its checksum",)
    s3().put_object(Bucket=INV, Key=truth.files[1], Body=body)  # type: ignore[attr-defined]
    done = run(stack, "s3-manifest", {"manifest": truth.manifest_uri})
    failed_with(done, "inventory file 1", truth.files[1], *words)
    # Counters cover exactly the committed cursor, and nothing of file 1 was ever counted.
    cursor = stack.store.load_state(done)
    assert cursor["file"] <= 1 and (cursor["file"] == 0 or cursor["record"] == 0)
    assert done.counters["objects"] == 100 * cursor["file"] + cursor["record"] <= 100


def test_a_manifest_replaced_during_the_walk_fails_the_job(stack: Stack) -> None:
    truth = put_inventory(s3(), INV, SRC, 2_000, 2)
    job = stack.start({"manifest": truth.manifest_uri}, task="s3-manifest")
    stack.sim.deliver(stack.sim.queue.popleft())  # one hop
    assert stack.job(job.job_id).status is JobStatus.QUEUED
    put_inventory(s3(), INV, SRC, 50, 1)  # the next day's report, same manifest key
    stack.sim.drain()
    failed_with(stack.job(job.job_id), "manifest", "replaced during the walk")


def test_bad_manifest_parameters_are_refused(stack: Stack) -> None:
    from baton.store.errors import InvalidJob

    for params, words in (
        ({"manifest": "bucket/key"}, "s3://bucket/key"),
        ({"manifest": f"s3://{INV}/m.json", "end_file": 0}, "end_file"),
        ({"manifest": f"s3://{INV}/m.json", "first_file": 2, "end_file": 1}, "above first_file"),
        ({"manifest": f"s3://{INV}/m.json", "bucket": "b"}, "does not take bucket"),
    ):
        with pytest.raises(InvalidJob, match=words):
            stack.start(params, task="s3-manifest")


# ---------------------------------------------------------------------- s3-lines


def put(key: str, body: bytes, **extra: str) -> None:
    s3().put_object(Bucket=DATA, Key=key, Body=body, **extra)  # type: ignore[attr-defined]


def test_json_lines_over_many_hops_with_records_across_range_boundaries(stack: Stack) -> None:
    body = json_lines(3_000)
    put("big.jsonl", body)
    done = run(
        stack,
        "s3-lines",
        {
            "bucket": DATA,
            "key": "big.jsonl",
            "format": "jsonl",
            "range_size": 4_096,
            "action": f"{RECORDS}:remember",
        },
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.hops >= 10
    assert done.counters == {
        "records": 3_000,
        "remembered": 3_000,
        "bytes": len(body),
        "objects": 1,
    }
    assert sorted(v["id"] for v in record_actions.values) == list(range(3_000))
    # Records that straddle two 4 KiB ranges were joined, not cut or lost.
    ends = [i + 1 for i, byte in enumerate(body) if byte == ord("\n")]
    straddling = sum(
        1 for a, b in zip([0, *ends[:-1]], ends, strict=True) if a // 4_096 != (b - 1) // 4_096
    )
    assert straddling >= 60


def test_csv_with_a_header_and_quoted_newlines_across_range_boundaries(stack: Stack) -> None:
    rows = ["id,name,note"] + [
        f'{i},"name {i}","line one\nline ""two"", {i}"' if i % 3 == 0 else f"{i},n{i},plain"
        for i in range(1_000)
    ]
    body = ("\r\n".join(rows) + "\r\n").encode()
    put("table.csv", body)
    done = run(
        stack,
        "s3-lines",
        {
            "bucket": DATA,
            "key": "table.csv",
            "format": "csv",
            "range_size": 1_024,
            "action": f"{RECORDS}:remember",
        },
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["records"] == 1_000 and done.counters["bytes"] == len(body)
    by_id = {int(v["id"]): v for v in record_actions.values}
    assert by_id[3]["note"] == 'line one\nline "two", 3'
    assert by_id[4] == {"id": "4", "name": "n4", "note": "plain"}


def test_a_csv_header_that_repeats_a_column_fails_the_job_naming_it(stack: Stack) -> None:
    """`id,name,name` would key every record by `name` once and drop a field: refused."""
    put("repeats.csv", b"id,name,name,x,x\n1,a,b,c,d\n2,e,f,g,h\n")
    done = run(
        stack,
        "s3-lines",
        {"bucket": DATA, "key": "repeats.csv", "format": "csv", "action": f"{RECORDS}:remember"},
    )
    failed_with(done, "s3://lines-data/repeats.csv", "column 'name' (2, 3)", "column 'x' (4, 5)")
    assert done.attempts == 0, "no retry: the object itself is wrong"
    assert record_actions.values == [] and done.counters.get("records", 0) == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_byte_order_mark_is_stripped(stack: Stack, fmt: str) -> None:
    text = "id,name\r\n1,a\r\n2,b\r\n" if fmt == "csv" else '{"id": "1"}\n{"id": "2"}\n'
    body = "\ufeff".encode() + text.encode()
    put(f"excel.{fmt}", body)
    done = run(
        stack,
        "s3-lines",
        {"bucket": DATA, "key": f"excel.{fmt}", "format": fmt, "action": f"{RECORDS}:remember"},
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert [v["id"] for v in record_actions.values] == ["1", "2"], record_actions.values
    assert done.counters["records"] == 2 and done.counters["bytes"] == len(body)


def test_bad_records_are_counted_and_reported_under_skip(stack: Stack) -> None:
    lines = [json.dumps({"id": i, "fail": i == 7}) for i in range(20)]
    lines[3] = "{broken"
    lines[11] = ""
    body = ("\n".join(lines)).encode()  # no newline after the last record
    put("mixed.jsonl", body)
    done = run(
        stack,
        "s3-lines",
        {
            "bucket": DATA,
            "key": "mixed.jsonl",
            "format": "jsonl",
            "on_error": "skip",
            "action": f"{RECORDS}:remember",
        },
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters == {
        "records": 17,
        "remembered": 17,
        "failed": 2,
        "blank_lines": 1,
        "bytes": len(body),
        "objects": 1,
    }
    failures = (done.summary or {})["last_failures"]
    assert [f["offset"] for f in failures] == [body.index(b"{broken"), body.index(b'{"id": 7')]
    assert "malformed" not in failures[0]["error"] and "JSONDecodeError" in failures[0]["error"]


def test_a_bad_record_under_fail_fails_the_job_with_its_offset(stack: Stack) -> None:
    body = b'{"a": 1}\n{"a": 2\n{"a": 3}\n'
    put("bad.jsonl", body)
    done = run(stack, "s3-lines", {"bucket": DATA, "key": "bad.jsonl", "format": "jsonl"})
    failed_with(done, "record at byte 9 of s3://lines-data/bad.jsonl is malformed")
    assert_counters_cover_the_cursor(stack, done, body, 9)


def assert_counters_cover_the_cursor(stack: Stack, job: Job, body: bytes, stop: int) -> None:
    """The committed cursor is at or before the bad record; the counters cover exactly it."""
    state = stack.store.load_state(job) if job.has_state else {"offset": 0}
    offset = state["offset"]
    assert offset <= stop
    assert job.counters.get("bytes", 0) == offset
    assert job.counters.get("records", 0) == body[:offset].count(b"\n")


def test_a_record_larger_than_the_range_size_fails_the_job(stack: Stack) -> None:
    body = json_lines(50) + json.dumps({"huge": "y" * 5_000}).encode() + b"\n" + json_lines(5)
    put("huge.jsonl", body)
    done = run(
        stack,
        "s3-lines",
        {"bucket": DATA, "key": "huge.jsonl", "format": "jsonl", "range_size": 2_048},
    )
    offset = len(json_lines(50))
    failed_with(done, f"record at byte {offset:,}", "longer than range_size 2,048")
    assert_counters_cover_the_cursor(stack, done, body, offset)


def test_an_object_replaced_during_the_walk_fails_the_job(stack: Stack) -> None:
    body = json_lines(2_000)
    put("moving.jsonl", body)
    record_actions.hooks[body.index(b'{"id": 1500,')] = lambda: put(
        "moving.jsonl", json_lines(2_000, start=9)
    )
    done = run(
        stack,
        "s3-lines",
        {
            "bucket": DATA,
            "key": "moving.jsonl",
            "format": "jsonl",
            "range_size": 4_096,
            "action": f"{RECORDS}:remember",
        },
    )
    failed_with(done, "s3://lines-data/moving.jsonl was replaced during the walk")
    ids = [v["id"] for v in record_actions.values]
    assert ids == sorted(ids) and max(ids) < 2_000 and len(set(ids)) >= 1_500, "old version only"


def test_a_prefix_walk_reads_every_object_in_key_order(stack: Stack) -> None:
    bodies = {f"logs/{i:02d}.jsonl": json_lines(100 + i, start=1000 * i) for i in range(5)}
    bodies["logs/empty.jsonl"] = b""
    for key, body in bodies.items():
        put(key, body)
    put("other/x.jsonl", json_lines(5))
    done = run(
        stack,
        "s3-lines",
        {
            "bucket": DATA,
            "prefix": "logs/",
            "format": "jsonl",
            "range_size": 2_048,
            "action": f"{RECORDS}:remember",
        },
    )
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.counters["records"] == sum(100 + i for i in range(5))
    assert done.counters["bytes"] == sum(len(b) for b in bodies.values())
    assert done.counters["objects"] == 6
    assert {k for k, _ in record_actions.seen} == {k for k in bodies if k != "logs/empty.jsonl"}


def test_small_gzip_objects_are_read_whole_per_hop_and_large_ones_refused(stack: Stack) -> None:
    plain = json_lines(2_000)
    put("small.jsonl.gz", gzip.compress(plain))
    done = run(stack, "s3-lines", {"bucket": DATA, "key": "small.jsonl.gz", "format": "jsonl"})
    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert done.hops >= 3
    assert done.counters == {"records": 2_000, "bytes": len(plain), "objects": 1}

    put("large.jsonl.gz", gzip.compress(plain))
    done = run(
        stack,
        "s3-lines",
        {"bucket": DATA, "key": "large.jsonl.gz", "format": "jsonl", "gzip_max_bytes": 1_000},
    )
    failed_with(done, "gzip-compressed", "gzip_max_bytes 1,000")


def test_gzip_bytes_without_a_gzip_name_are_refused(stack: Stack) -> None:
    put("sneaky.jsonl", gzip.compress(json_lines(10)))
    failed_with(
        run(stack, "s3-lines", {"bucket": DATA, "key": "sneaky.jsonl", "format": "jsonl"}),
        "starts like gzip",
    )


def test_bad_lines_parameters_are_refused(stack: Stack) -> None:
    from baton.store.errors import InvalidJob

    for params, words in (
        ({"bucket": DATA, "format": "jsonl"}, "key .one object. or prefix"),
        (
            {"bucket": DATA, "key": "k", "prefix": "p", "format": "jsonl"},
            "key .one object. or prefix",
        ),
        ({"bucket": DATA, "key": "k", "format": "xml"}, "format must be one of"),
        ({"bucket": DATA, "key": "k", "format": "jsonl", "range_size": 10}, "range_size"),
        ({"bucket": DATA, "key": "k", "format": "jsonl", "action": "inventory"}, "module:function"),
        ({"bucket": DATA, "key": "k", "format": "jsonl", "action": "os:system"}, "not allowed"),
    ):
        with pytest.raises(InvalidJob, match=words):
            stack.start(params, task="s3-lines")


def drain_with_watchdog(stack: Stack, job_id: str, rounds: int = 20) -> None:
    """Deliver everything twice; when a chain is stuck (its retries spent), the watchdog acts."""
    from baton.handler.watchdog import Watchdog, WatchdogSettings

    dog = Watchdog(stack.store, stack.runtime.lambda_client, "baton-worker", WatchdogSettings())
    for _ in range(rounds):
        stack.sim.drain(duplicate=True)
        if stack.job(job_id).status.terminal:
            return
        stack.clock.advance(WatchdogSettings().stall_after_s * 1000 + 1)
        dog.sweep()


def test_json_lines_killed_mid_step_and_delivered_twice_counts_exactly() -> None:
    from baton.handler import faults
    from tests.support.lambda_sim import KillAt

    record_actions.reset()
    kill = KillAt(faults.MID_STEP, lambda n: n % 89 == 0)
    with mock_aws(), local_stack(action_modules=(RECORDS,), faults=kill) as stack:
        s3().create_bucket(Bucket=DATA)  # type: ignore[attr-defined]
        body = json_lines(2_000)
        put("killed.jsonl", body)
        params = {
            "bucket": DATA,
            "key": "killed.jsonl",
            "format": "jsonl",
            "range_size": 4_096,
            "action": f"{RECORDS}:remember",
        }
        job = stack.start(params, task="s3-lines")
        drain_with_watchdog(stack, job.job_id)
        done = stack.job(job.job_id)
        check_one_holder_no_fork(stack.commits)

    assert done.status is JobStatus.SUCCEEDED, done.last_error
    assert kill.kills >= 3
    assert done.counters == {
        "records": 2_000,
        "remembered": 2_000,
        "bytes": len(body),
        "objects": 1,
    }
    assert {offset for _, offset in record_actions.seen} == {
        i for i in range(len(body)) if i == 0 or body[i - 1] == ord("\n")
    } - {len(body)}
