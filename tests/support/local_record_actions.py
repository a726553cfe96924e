"""A record action for the local-stack s3-lines tests, run in worker processes.

`pace`: sleep `sleep_ms` once every `every` records, so a walk lasts long enough to hop many
times whatever the machine's speed. On the first visit of the record at `block_offset` (no
`marker` file yet) it creates the marker holding the worker's pid and blocks far beyond the
function's timeout: a hard timeout inside a step, which only killing the worker ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from baton.handler.api import ActionContext
from tests.support.local_actions import claim_marker


def pace(record: Any, ctx: ActionContext) -> None:
    params = ctx.params
    if params.get("block_offset") == record.offset:
        marker = Path(params["marker"])
        try:
            claim_marker(marker)
        except FileExistsError:
            pass
        else:
            time.sleep(float(params.get("block_s", 120)))
    every = int(params.get("every", 1))
    if int(record.value["id"]) % every == 0:
        time.sleep(float(params.get("sleep_ms", 0)) / 1000)
