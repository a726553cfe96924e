# ruff: noqa: E501 - one row per figure, each with its source: a table reads best unwrapped
"""Every figure the twin models AWS with (latencies, limits, prices), in one table, with its source.

Prices are us-east-1, on-demand, x86, as published on the services' pricing pages. Latencies are
medians; where AWS publishes no figure the source says what the value rests on (a measurement on
this repository's machine, or an assumption named as such), so a reader can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str


LAMBDA_ASYNC_RETRIES = (
    "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html"
)
LAMBDA_LIFECYCLE = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html"
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
DDB_PRICING = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
DDB_HOT_PARTITION = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html"
DDB_ON_DEMAND = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html"
)
S3_PRICING = "https://aws.amazon.com/s3/pricing/"
S3_PREFIX_RATES = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
)
S3_LATENCY = (
    "https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/"
    "timeouts-and-retries-for-latency-sensitive-applications.html"
)

FIGURES: dict[str, Figure] = {
    # ---------------------------------------------------------------- Lambda
    "lambda_timeout_max_s": Figure(
        900, "s", f"Lambda quotas, function timeout ({LAMBDA_LIFECYCLE})"
    ),
    "lambda_retry_1_s": Figure(
        60, "s", f"function errors: one minute before the 2nd attempt ({LAMBDA_ASYNC_RETRIES})"
    ),
    "lambda_retry_2_s": Figure(
        120, "s", f"two minutes before the 3rd attempt ({LAMBDA_ASYNC_RETRIES})"
    ),
    "lambda_throttle_backoff_first_s": Figure(
        1, "s", f"throttled async events: retry interval starts at 1 s ({LAMBDA_ASYNC_RETRIES})"
    ),
    "lambda_throttle_backoff_max_s": Figure(
        300, "s", f"... doubling to at most 5 minutes ({LAMBDA_ASYNC_RETRIES})"
    ),
    "lambda_event_max_age_s": Figure(
        21_600, "s", f"throttled events are retried for up to 6 hours ({LAMBDA_ASYNC_RETRIES})"
    ),
    "lambda_init_limit_s": Figure(
        10, "s", f"the INIT phase is limited to 10 s, outside the timeout ({LAMBDA_LIFECYCLE})"
    ),
    "lambda_cold_start_ms": Figure(
        800,
        "ms",
        "assumption: Python runtime + boto3/pynamodb/powertools imports at 1 GB; AWS publishes "
        "no median (INIT bounded by 10 s, " + LAMBDA_LIFECYCLE + ")",
    ),
    "lambda_async_accept_ms": Figure(
        25, "ms", "assumption: an async Invoke's round trip (202) from inside the region"
    ),
    "lambda_memory_gb": Figure(1.0, "GB", "infra/template.yaml WorkerMemoryMB default (1024)"),
    "lambda_price_gb_s": Figure(
        0.0000166667, "USD/GB-s", f"x86, first 6 billion GB-s/month ({LAMBDA_PRICING})"
    ),
    "lambda_price_request": Figure(
        0.20 / 1e6, "USD/request", f"$0.20 per million requests ({LAMBDA_PRICING})"
    ),
    # ---------------------------------------------------------------- DynamoDB
    "ddb_item_limit_bytes": Figure(
        409_600,
        "bytes",
        "DynamoDB item size limit, 400 KB (moto, under the twin, refuses above 405,000)",
    ),
    "ddb_partition_wcu_per_s": Figure(
        1_000,
        "WCU/s",
        f"each partition: 1,000 write units/s, tables and GSIs alike ({DDB_HOT_PARTITION})",
    ),
    "ddb_write_unit_bytes": Figure(
        1_024, "bytes", f"a standard write request unit writes up to 1 KB ({DDB_PRICING})"
    ),
    "ddb_read_unit_bytes": Figure(
        4_096, "bytes", f"a strongly consistent read unit reads up to 4 KB ({DDB_PRICING})"
    ),
    "ddb_write_ms": Figure(
        6,
        "ms",
        f"'single-digit millisecond latency' ({DDB_ON_DEMAND}); 6 ms assumed for a conditional write",
    ),
    "ddb_read_ms": Figure(
        4, "ms", f"'single-digit millisecond latency' ({DDB_ON_DEMAND}); 4 ms assumed for a read"
    ),
    "ddb_price_wru": Figure(
        0.625 / 1e6,
        "USD/WRU",
        f"on-demand, $0.625 per million write request units since Nov 2024 ({DDB_PRICING})",
    ),
    "ddb_price_rru": Figure(
        0.125 / 1e6, "USD/RRU", f"on-demand, $0.125 per million read request units ({DDB_PRICING})"
    ),
    # ---------------------------------------------------------------- S3
    "s3_list_ms": Figure(
        50,
        "ms",
        "ListObjectsV2, service time of a 1,000-key page: the figure the scale limits were first reasoned with; AWS "
        f"gives 'tens of milliseconds' medians for small requests ({S3_LATENCY})",
    ),
    "s3_list_parse_us_per_key": Figure(
        60,
        "us/key",
        "measured here: botocore parses a 1,000-key ListObjectsV2 page (301 KB) in 60-90 ms on "
        "one core (twin/figures.py's figure; Lambda at 1 GB has about 0.58 vCPU)",
    ),
    "count_us_per_key": Figure(
        5, "us/key", "assumption: s3-walk's per-object bookkeeping for `count` (counters, cursor)"
    ),
    "s3_get_put_ms": Figure(
        30, "ms", f"'tens of milliseconds' median for small GET/PUT ({S3_LATENCY})"
    ),
    "s3_read_rps_per_prefix": Figure(
        5_500, "requests/s", f"GET/HEAD (and LIST) per partitioned prefix ({S3_PREFIX_RATES})"
    ),
    "s3_write_rps_per_prefix": Figure(
        3_500, "requests/s", f"PUT/COPY/POST/DELETE per partitioned prefix ({S3_PREFIX_RATES})"
    ),
    "s3_price_list": Figure(
        0.005 / 1000,
        "USD/request",
        f"S3 Standard PUT, COPY, POST, LIST: $0.005 per 1,000 ({S3_PRICING})",
    ),
    "s3_price_get": Figure(
        0.0004 / 1000,
        "USD/request",
        f"S3 Standard GET and others: $0.0004 per 1,000 ({S3_PRICING})",
    ),
}


def figure(name: str) -> float:
    """The value of one figure; KeyError names a figure the table does not hold."""
    return FIGURES[name].value


def markdown_table() -> str:
    """The table as Markdown, for docs/scale.md."""
    lines = ["| figure | value | unit | source |", "|---|---:|---|---|"]
    for name, f in FIGURES.items():
        value = f"{f.value:g}" if f.value < 1e-3 else f"{f.value:,g}"
        lines.append(f"| `{name}` | {value} | {f.unit} | {f.source} |")
    return "\n".join(lines)
