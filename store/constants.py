"""Limits and defaults of the job store, gathered in one place instead of scattered literals."""

import re

MAX_JOB_ID_LENGTH = 128
JOB_ID_PATTERN = re.compile(rf"^[A-Za-z0-9._-]{{1,{MAX_JOB_ID_LENGTH}}}$")

DEFAULT_TABLE = "baton-jobs"
# Jobs by status, newest first. DynamoDB takes about 1,000 write units per second per partition
# key value of a table or index (Developer Guide, "Best practices for designing and using
# partition keys effectively"), and every write of a running job rewrites its index entry: with
# `status` as the key, 10,000 running jobs would all write one index partition. The key is the
# status spread over STATUS_SHARDS values (`RUNNING#07`, from a hash of the job id), so each holds
# 1/STATUS_SHARDS of the writes; readers query every shard and merge. The index took its new
# name with its new key (an index's key cannot change; docs/deploy.md has the upgrade).
BY_STATUS_INDEX = "by-status-shard"
LEGACY_BY_STATUS_INDEX = "by-status"
STATUS_SHARDS = 16

# DynamoDB refuses items above 400 KB (moto above 405,000 bytes). The compressed state gets a
# budget well below that so the rest of the item (params, counters, recent hops, last error)
# always fits, and so a checkpoint costs a bounded number of write units.
STATE_INLINE_LIMIT_BYTES = 64 * 1024
# DynamoDB's item size limit (Amazon DynamoDB Developer Guide, "Quotas": "The maximum item size
# in DynamoDB is 400 KB, which includes both attribute name binary length (UTF-8 length) and
# attribute value lengths"). A write past it is refused with a ValidationException.
ITEM_LIMIT_BYTES = 400 * 1024
# The counters map is committed with every checkpoint and copied into the by-status index, so it
# is bounded: a task that counts per tenant, per customer or per key would otherwise grow the
# item past ITEM_LIMIT_BYTES (about 20,000 names) and fail every later write of the job.
MAX_COUNTER_NAMES = 1_000
COUNTERS_LIMIT_BYTES = 32 * 1024
# Past this much JSON a state is a task bug (state growing without bound), not data to store:
# every commit would encode and upload it whole.
STATE_MAX_BYTES = 64 * 1024 * 1024
# Spilled states and job reports live under these prefixes of the state bucket.
STATE_PREFIX = "state/"
REPORT_PREFIX = "reports/"
# A short summary of the task's result is kept on the item for `baton status`.
SUMMARY_LIMIT_BYTES = 16 * 1024
# Parameters are fixed at creation and copied into the item as a readable map.
PARAMS_LIMIT_BYTES = 32 * 1024
# last_error is for people: long tracebacks are cut to this many characters.
LAST_ERROR_LIMIT_CHARS = 2_000
# Bounded timeline kept on the item for `baton history`.
RECENT_HOPS_KEPT = 20

DEFAULT_MAX_HOPS = 1_000
DEFAULT_MAX_ATTEMPTS = 3
MAX_MAX_HOPS = 1_000_000
MAX_MAX_ATTEMPTS = 100

# A lease lasts this long from the holder's last commit (its claim, then each checkpoint renews
# it), never past the holder's own hard deadline, plus CLOCK_SKEW_MS for clock skew between
# hosts. Lambda retries a failed async invocation about 1 minute after the failure, then about
# 2 minutes later (AWS Lambda developer guide, "How Lambda handles errors and retries with
# asynchronous invocation"): a hop that died early (out of memory, runtime exit) has left a
# lease that expires within LEASE_TERM_MS + CLOCK_SKEW_MS (32 s) of its last commit, so that
# first retry can claim the job. A live holder renews before its lease runs out
# (handler/lease_renewal.py); one that did not is fenced off by the epoch and lease conditions
# if another invocation took over.
LEASE_TERM_MS = 30_000
CLOCK_SKEW_MS = 2_000
# Finished jobs are kept this long before DynamoDB's TTL removes them.
DEFAULT_RETENTION_DAYS = 30
# A FAILED job can be resumed: it outlives the retention of finished jobs by far.
FAILED_RETENTION_DAYS = 365

# How many times an operator request re-reads the item after losing a race with the chain.
OPERATOR_RETRIES = 5
# A claim reads the item, then writes on condition that nothing was written since: when only
# that moved (another write landed in between), it reads and tries again, at most this often.
CLAIM_TRIES = 3

# A QUEUED job not claimed for this long, or a RUNNING one without a commit for this long, is
# looked at by the watchdog; it re-sends or re-arms a job at most this many times, then fails it.
DEFAULT_STALL_AFTER_S = 300
DEFAULT_MAX_RESTARTS = 3  # BATON_WATCHDOG_MAX_REARMS (its deployed name)
