"""s3-walk's parameters and actions, the self-invoker, and hops that must always progress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from baton.handler.actions import resolve_action
from baton.handler.invoker import SelfInvoker
from baton.handler.launch import prepare
from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.store.errors import InvalidJob
from baton.store.records import JobStatus
from tests.support.buckets import fill_bucket
from tests.support.inprocess_stack import local_stack

ALLOWED = ("tests.support.actions",)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, "needs bucket"),
        ({"bucket": "Bad_Bucket"}, "bucket must be an S3 bucket name"),
        ({"bucket": "ok-bucket", "prefix": 5}, "prefix must be a string"),
        ({"bucket": "ok-bucket", "start_after": "k" * 1025}, "start_after must be"),
        ({"bucket": "ok-bucket", "action": "os:system"}, "'os' is not allowed"),
        ({"bucket": "ok-bucket", "action": "nope"}, "unknown action"),
        ({"bucket": "ok-bucket", "on_error": "ignore"}, "on_error"),
        ({"bucket": "ok-bucket", "max_failed": -1}, "max_failed"),
        ({"bucket": "ok-bucket", "max_failed": True}, "max_failed"),
        ({"bucket": "ok-bucket", "action_params": []}, "action_params"),
        ({"bucket": "ok-bucket", "buckett": "typo"}, "does not take buckett"),
    ],
)
def test_bad_walk_parameters_are_refused_with_the_reason(
    params: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidJob, match=problem):
        S3Walk.validate(params, ALLOWED)


def test_parameters_are_normalised() -> None:
    params = S3Walk.validate({"bucket": "b-1", "prefix": "", "start_after": None}, ALLOWED)
    assert params == {
        "bucket": "b-1",
        "action": "count",
        "on_error": "fail",
        "max_failed": 1000,
        "concurrency": 1,
    }


@pytest.mark.parametrize(
    ("job_id", "options", "problem"),
    [
        ("bad id", {}, "job id must match"),
        ("ok", {"max_hops": 0}, "max_hops"),
        ("ok", {"max_attempts": 101}, "max_attempts"),
    ],
)
def test_job_options_are_checked_before_anything_is_written(
    job_id: str, options: dict[str, int], problem: str
) -> None:
    with pytest.raises(InvalidJob, match=problem):
        prepare("s3-walk", {"bucket": "b-1"}, action_modules=(), now_ms=0, job_id=job_id, **options)
    with pytest.raises(InvalidJob, match="unknown task"):
        prepare("s3-crawl", {"bucket": "b-1"}, action_modules=(), now_ms=0)


def test_generated_job_ids_sort_by_time() -> None:
    early = prepare("s3-walk", {"bucket": "b-1"}, action_modules=(), now_ms=1_800_000_000_000)
    late = prepare("s3-walk", {"bucket": "b-1"}, action_modules=(), now_ms=1_800_000_000_001)
    assert early.job_id < late.job_id
    assert early.job_id.startswith("20270115T")


def test_custom_actions_resolve_only_from_allowed_modules() -> None:
    assert resolve_action("tests.support.actions:record", {}, ALLOWED).name.endswith(":record")
    with pytest.raises(InvalidJob, match="has no function"):
        resolve_action("tests.support.actions:missing", {}, ALLOWED)
    with pytest.raises(InvalidJob, match="not allowed"):
        resolve_action("tests.support.actions:record", {}, ())


class FlakyLambda:
    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.calls = 0

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.codes:
            code = self.codes.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "Invoke")
        return {"StatusCode": 202}


def test_invoker_retries_throttles_while_time_remains() -> None:
    client = FlakyLambda(["TooManyRequestsException", "ServiceException"])
    waits: list[float] = []
    sent = SelfInvoker(client, waits.append).send("fn", {"job_id": "j", "epoch": 2}, lambda: 60_000)  # type: ignore[arg-type]
    assert sent and client.calls == 3 and len(waits) == 2


def test_invoker_gives_up_on_errors_no_retry_fixes_and_when_time_runs_out() -> None:
    missing = FlakyLambda(["ResourceNotFoundException"])
    assert not SelfInvoker(missing, lambda s: None).send("fn", {}, lambda: 60_000)  # type: ignore[arg-type]
    assert missing.calls == 1
    throttled = FlakyLambda(["TooManyRequestsException"] * 100)
    assert not SelfInvoker(throttled, lambda s: None).send("fn", {}, lambda: 500)  # type: ignore[arg-type]
    assert throttled.calls == 1


@pytest.fixture
def small_bucket() -> Iterator[int]:
    with mock_aws():
        truth = fill_bucket(boto3.client("s3", region_name="us-east-1"), "tiny", 40)
        yield len(truth.sizes)


def test_every_hop_makes_progress_even_when_the_window_is_shorter_than_the_margin(
    small_bucket: int,
) -> None:
    """A deadline inside the margin from the start must not turn into a chain of empty hops."""
    with local_stack(timeout_ms=200, min_margin_ms=5_000, checkpoint_s=1) as stack:
        job = stack.start({"bucket": "tiny"})
        stack.sim.drain()
        done = stack.job(job.job_id)
        assert done.status is JobStatus.SUCCEEDED
        assert done.counters["objects"] == small_bucket
        assert all(h.items >= 1 for h in done.recent_hops)
        assert done.hops == small_bucket, "one object per hop: each hop did one step"


class PagedBucket:
    """An in-memory ListObjectsV2: StartAfter, Prefix and MaxKeys, nothing else."""

    def __init__(self, count: int) -> None:
        self.keys = [f"k{i:07d}" for i in range(count)]
        self.page_sizes: list[int] = []

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        after = request.get("StartAfter", "")
        size = request["MaxKeys"]
        self.page_sizes.append(size)
        chosen = [k for k in self.keys if k > after][:size]
        return {
            "Contents": [{"Key": k, "Size": 1, "ETag": '"e"'} for k in chosen],
            "IsTruncated": bool(chosen) and chosen[-1] != self.keys[-1],
        }


def test_a_long_walk_with_a_near_free_action_keeps_sizing_its_pages() -> None:
    """Regression: per-object times of 0 ms once decayed into a subnormal average, and the page
    size (window / average) overflowed after about 3,000 objects, failing the job."""
    from baton.handler.tasks.builtin.s3_walk import S3Walk
    from baton.handler.tasks.framework.base import Resources, StepContext

    bucket = PagedBucket(12_000)
    resources = Resources(s3=bucket, action_modules=(), logger=None)  # type: ignore[arg-type]
    walk = S3Walk(S3Walk.validate({"bucket": "paged"}, ()), resources)
    state = walk.start()
    counters: dict[str, int] = {}
    ctx = StepContext(counters, lambda: 600_000, lambda: 300_000, None)  # type: ignore[arg-type]
    done = False
    while not done:
        done = walk.step(state, ctx)
    assert counters["objects"] == 12_000
    assert state["start_after"] == "k0011999"
    assert all(1 <= size <= 1_000 for size in bucket.page_sizes)
