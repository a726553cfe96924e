"""`baton start s3-walk --manifest` and `baton start s3-lines` as an operator types them."""

from __future__ import annotations

import json
from typing import Any

from tests.test_cli import aws, baton

__all__ = ["aws"]


def test_s3_walk_with_a_manifest_starts_the_manifest_walk(aws: list[Any]) -> None:
    baton("init")
    started = baton(
        "start",
        "s3-walk",
        "--manifest",
        "s3://inv/src/manifest.json",
        "--action",
        "inventory",
        "--json",
    )
    assert started.exit_code == 0, started.output
    job = json.loads(started.stdout)
    assert job["task"] == "s3-manifest"
    assert job["params"]["manifest"] == "s3://inv/src/manifest.json"
    assert job["params"]["action"] == "inventory"
    assert aws[-1] == {"job_id": job["job_id"], "epoch": 1}


def test_s3_lines_takes_key_format_and_range_size(aws: list[Any]) -> None:
    baton("init")
    started = baton(
        "start",
        "s3-lines",
        "--bucket",
        "data",
        "--key",
        "export.jsonl",
        "--format",
        "jsonl",
        "--range-size",
        "1048576",
        "--json",
    )
    assert started.exit_code == 0, started.output
    params = json.loads(started.stdout)["params"]
    assert (params["key"], params["format"], params["range_size"]) == (
        "export.jsonl",
        "jsonl",
        1_048_576,
    )


def test_s3_lines_without_key_or_prefix_is_refused_before_anything_is_written(
    aws: list[Any],
) -> None:
    baton("init")
    refused = baton("start", "s3-lines", "--bucket", "data", "--format", "csv")
    assert refused.exit_code != 0
    assert "key (one object) or prefix" in refused.output
    assert aws == []
