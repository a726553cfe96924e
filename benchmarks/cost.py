"""The cost model: measured counts times published prices (US East, N. Virginia; USD).

Every price names where it was read and how sure it is. The pages were read through stored
copies on the day below; a price marked `confirmed=False` was found only on a third-party page
or not found at all, and the page says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PRICES_TAKEN = "2026-11-26"


@dataclass(frozen=True)
class Price:
    name: str
    usd: float
    per: str
    source: str
    confirmed: bool
    note: str = ""


PRICES: dict[str, Price] = {
    # The template deploys arm64 (Graviton): its duration price, 20% below x86's $0.0000166667.
    "lambda_gb_s": Price(
        "Lambda duration (arm64, first tier)",
        0.0000133334,
        "GB-second",
        "aws.amazon.com/lambda/pricing (Arm price, first 7.5 billion GB-s); third-party copies "
        "agree (cloudchipr.com, a lambda cost note on git.mcrn.ar)",
        False,
        "AWS's own table is rendered client-side; the x86 figure was confirmed in the stored copy",
    ),
    "lambda_request": Price(
        "Lambda requests",
        0.20 / 1e6,
        "request",
        "aws.amazon.com/lambda/pricing (stored copy); AWS whitepaper 'How AWS Pricing Works'",
        True,
    ),
    "ddb_wru": Price(
        "DynamoDB on-demand write request unit",
        0.625 / 1e6,
        "WRU (1 KB)",
        "third-party summary of aws.amazon.com/dynamodb/pricing (airbyte.com); AWS's blog notes "
        "the on-demand price cut of Nov. 2024",
        False,
        "AWS's own on-demand table was not readable in the stored copies",
    ),
    "ddb_rru": Price(
        "DynamoDB on-demand read request unit",
        0.125 / 1e6,
        "RRU (4 KB strongly consistent)",
        "same third-party summary",
        False,
        "as above",
    ),
    "s3_put_list": Price(
        "S3 Standard PUT, COPY, POST, LIST",
        0.005 / 1000,
        "request",
        "third-party summaries of aws.amazon.com/s3/pricing (c3x.dev, cloudkaramchari.com)",
        False,
        "AWS's own table is rendered client-side and was not in the stored copies",
    ),
    "s3_get": Price(
        "S3 Standard GET, HEAD",
        0.0004 / 1000,
        "request",
        "same third-party summaries",
        False,
        "as above",
    ),
    "sfn_transition": Price(
        "Step Functions Standard state transition",
        0.025 / 1000,
        "state transition",
        "aws.amazon.com/step-functions/pricing (stored copy, US East table)",
        True,
    ),
    "batch_job": Price(
        "S3 Batch Operations job",
        0.25,
        "job",
        "third-party (sysdesign-wiki, citing Yelp's 2025-09-26 post: '$0.25 per bucket per job')",
        False,
        "AWS's own page not found in the stored copies",
    ),
    "batch_object": Price(
        "S3 Batch Operations objects processed",
        1.00 / 1e6,
        "object",
        "not found in any stored copy; the value is from memory of aws.amazon.com/s3/pricing",
        False,
        "unconfirmed",
    ),
    "durable_op": Price(
        "Lambda durable functions operation",
        8.00 / 1e6,
        "durable operation",
        "transcription of aws.amazon.com/lambda/pricing dated 2026-09-20 (api-evangelist) and a "
        "launch article (dawnliphardt.com)",
        False,
        "two third-party copies agree",
    ),
    "durable_gb_written": Price(
        "Lambda durable functions data written",
        0.25,
        "GB",
        "launch article (dawnliphardt.com) only",
        False,
        "one third-party source",
    ),
    # What a deployed stack costs while no job runs (docs/deploy.md, "What the stack costs idle").
    "cw_alarm": Price(
        "CloudWatch standard-resolution metric alarm",
        0.10,
        "alarm-month",
        "aws.amazon.com/cloudwatch/pricing; third-party summary (c3x.dev) agrees",
        False,
        "AWS's own table was not in the stored copies",
    ),
    "cw_dashboard": Price(
        "CloudWatch dashboard (beyond the account's first 3)",
        3.00,
        "dashboard-month",
        "aws.amazon.com/cloudwatch/pricing (from memory; free tier: 3 dashboards of up to 50 "
        "metrics)",
        False,
        "unconfirmed",
    ),
    "cw_logs_ingest": Price(
        "CloudWatch Logs ingestion (standard)",
        0.50,
        "GB",
        "aws.amazon.com/cloudwatch/pricing (from memory)",
        False,
        "unconfirmed",
    ),
}

# The watchdog's idle sweep (one Query per status it watches, nothing found), as the template
# configures it. INIT is billed like the handler's time (since August 2025): both are in here.
WATCHDOG_MEMORY_GB = 0.25
WATCHDOG_BILLED_S = 2.0  # INIT plus an empty sweep, rounded up
WATCHDOG_LOG_BYTES = 1_000  # START, END and REPORT lines of one run
WATCHDOG_QUERIES = 3  # QUEUED, RUNNING, PAUSED... one on-demand read unit each at least
MONTH_S = 30 * 24 * 3600


def stack_fixed_monthly(alarms: int, dashboards: int, sweep_every_s: int) -> dict[str, float]:
    """USD a month for a deployed stack running no job: what it costs to have it at all.

    Everything else (Lambda, DynamoDB, S3 for jobs) is paid per job, in the model above. The
    free tiers (1M Lambda requests, 3 dashboards, 5 GB of logs) are left out: an account may have
    spent them elsewhere.
    """
    runs = MONTH_S / sweep_every_s
    return {
        "alarms": usd("cw_alarm", alarms),
        "dashboard": usd("cw_dashboard", dashboards),
        "watchdog requests": usd("lambda_request", runs),
        "watchdog duration": usd("lambda_gb_s", runs * WATCHDOG_BILLED_S * WATCHDOG_MEMORY_GB),
        "watchdog logs": usd("cw_logs_ingest", runs * WATCHDOG_LOG_BYTES / 1e9),
        "watchdog queries": usd("ddb_rru", runs * WATCHDOG_QUERIES),
    }


def usd(key: str, quantity: float) -> float:
    return PRICES[key].usd * quantity


@dataclass(frozen=True)
class Measured:
    """What the run measured, per object or per hop, that the model multiplies."""

    relay_rate: float  # objects per second, one hop, this machine
    list_per_1k: float  # ListObjectsV2 calls per 1,000 objects
    units_per_write: float  # WRU per item write (item size rounded up to 1 KB)
    hop_fixed_s: float  # claim + hand-off + invoke, per hop
    reads_per_hop: float
    checkpoint_s: float = 10.0
    hop_window_s: float = 890.0  # 900 s timeout minus the 10 s default margin
    memory_gb: float = 1.0
    durable_bytes_per_step: int = 300  # a cursor and counters, as a step result


def baton(n: int, m: Measured) -> dict[str, Any]:
    work_s = n / m.relay_rate
    hops = max(1, math.ceil(work_s / m.hop_window_s))
    lambda_s = work_s + hops * m.hop_fixed_s
    writes = 1 + 2 * hops + math.floor(work_s / m.checkpoint_s)  # create, claim+hand-off, ckpts
    reads = 1 + hops * m.reads_per_hop
    lists = n / 1000 * m.list_per_1k
    parts = {
        "Lambda requests": usd("lambda_request", hops),
        "Lambda duration": usd("lambda_gb_s", lambda_s * m.memory_gb),
        "DynamoDB writes": usd("ddb_wru", writes * m.units_per_write),
        "DynamoDB reads": usd("ddb_rru", reads),
        "S3 LIST": usd("s3_put_list", lists),
    }
    counts = {"hops": hops, "lambda_s": lambda_s, "item writes": writes, "LIST calls": lists}
    return {"name": "baton (one chain)", "parts": parts, "counts": counts}


def distributed_map(n: int, m: Measured, batch: int) -> dict[str, Any]:
    """Standard child workflows, one Task state (a Lambda) per child; `batch` items per child."""
    children = math.ceil(n / batch)
    lists = n / 1000 * m.list_per_1k  # the S3 item reader lists the same bucket
    work_s = n / m.relay_rate
    parts = {
        "state transitions": usd("sfn_transition", children + 2),
        "Lambda requests": usd("lambda_request", children),
        "Lambda duration": usd("lambda_gb_s", work_s * m.memory_gb) if batch > 1 else 0.0,
        "S3 LIST": usd("s3_put_list", lists),
    }
    name = f"Step Functions Distributed Map, {batch:,} item{'s' if batch > 1 else ''} per child"
    return {"name": name, "parts": parts, "counts": {"children": children}}


def batch_operations(n: int) -> dict[str, Any]:
    """One job invoking a Lambda per object (S3 Batch Operations has no 'count' operation)."""
    parts = {
        "job": usd("batch_job", 1),
        "objects processed": usd("batch_object", n),
        "Lambda requests": usd("lambda_request", n),
    }
    return {"name": "S3 Batch Operations, Lambda per object", "parts": parts, "counts": {}}


def durable(n: int, m: Measured) -> dict[str, Any]:
    """A durable function that lists a page (1,000 keys) per step: one operation per page."""
    steps = math.ceil(n / 1000) + 1
    work_s = n / m.relay_rate
    lists = n / 1000 * m.list_per_1k
    parts = {
        "durable operations": usd("durable_op", steps),
        "data written": usd("durable_gb_written", steps * m.durable_bytes_per_step / 1e9),
        "Lambda duration": usd("lambda_gb_s", work_s * m.memory_gb),
        "Lambda requests": usd("lambda_request", math.ceil(work_s / m.hop_window_s)),
        "S3 LIST": usd("s3_put_list", lists),
    }
    return {"name": "Lambda durable functions, one step per page", "parts": parts, "counts": {}}


def model(m: Measured, sizes: tuple[int, ...] = (1_000_000, 100_000_000)) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for row in (
            baton(n, m),
            distributed_map(n, m, 1),
            distributed_map(n, m, 1000),
            batch_operations(n),
            durable(n, m),
        ):
            row["objects"] = n
            row["total"] = sum(row["parts"].values())
            rows.append(row)
    return rows
