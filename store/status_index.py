"""Giving items written before the sharded by-status index their index key.

The index's key is `status_shard` (store/model.py). Every write that sets a status sets it too,
but an item nobody writes again (a finished job, or one stalled since before the upgrade) has
none and stays out of the index: invisible to `baton list` and to the watchdog. `backfill`
gives each such item its key, once, after the upgrade (`baton init` runs it).
"""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from baton.store.model import JobModel, status_shard
from baton.store.writes import CONDITION_FAILED, error_code

SCAN_PAGE = 500


def backfill(model: type[JobModel]) -> int:
    """Set `status_shard` on every item that lacks it; how many items were given one.

    Each write is conditional on the status read and on the key still missing, so a job that
    moved meanwhile (its own write set the key) is left as its write left it. Reads the whole
    table once (a Scan) with only the key and the status.
    """
    given = 0
    missing = model.scan(
        filter_condition=model.status_shard.does_not_exist(),
        attributes_to_get=["job_id", "status"],
        page_size=SCAN_PAGE,
    )
    for found in missing:
        job_id, status = str(found.job_id), str(found.status)
        item = model(job_id)
        try:
            item.update(
                actions=[model.status_shard.set(status_shard(job_id, status))],
                condition=(model.status == status) & model.status_shard.does_not_exist(),
            )
        except UpdateError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            continue  # the job moved meanwhile, and its own write set the key
        given += 1
    return given
