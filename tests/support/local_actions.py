"""Actions for the local-stack tests, run in worker processes (BATON_ACTION_MODULES lists this).

Worker processes share nothing with the test but files, so these actions report through files
named in `action_params`:

- `trace`: a file that receives one line `<pid> <key>` per object processed (appends are
  atomic for lines this short), so a test sees at-least-once processing and where each hop began.
- `sleep_ms`: time spent per object, so a walk lasts long enough to hop.
- `block_key` and `marker`: on the first visit of `block_key` (no marker file yet), create the
  marker holding the worker's pid, write `<pid> BLOCK <key>` to the trace and block far beyond
  the function's timeout: a hard timeout inside a step, which only killing the process can end.
- `crash_key` and `marker`: on the first visit of `crash_key`, create the marker, write
  `<pid> CRASH <key>` to the trace and end the process at once (`os._exit`), as an out-of-memory
  kill or a runtime exit ends a sandbox mid-hop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from baton.handler.actions import ActionContext, ObjectRef


def claim_marker(marker: Path) -> None:
    """Create `marker` holding this worker's pid, all at once (a worker killed midway leaves no
    empty marker behind). Raises FileExistsError when another visit created it first."""
    pid = os.getpid()
    draft = marker.with_name(f"{marker.name}.{pid}")
    draft.write_text(str(pid))
    try:
        os.link(draft, marker)
    finally:
        draft.unlink()


def _trace(ctx: ActionContext, text: str) -> None:
    trace = ctx.params.get("trace")
    if trace:
        with open(trace, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {text}\n")


def slow(obj: ObjectRef, ctx: ActionContext) -> None:
    if ctx.params.get("crash_key") == obj.key:
        try:
            Path(ctx.params["marker"]).touch(exist_ok=False)
        except FileExistsError:
            pass
        else:
            _trace(ctx, f"CRASH {obj.key}")
            os._exit(137)
    block_key = ctx.params.get("block_key")
    if block_key == obj.key:
        marker = Path(ctx.params["marker"])
        try:
            claim_marker(marker)
        except FileExistsError:
            pass
        else:
            _trace(ctx, f"BLOCK {obj.key}")
            time.sleep(float(ctx.params.get("block_s", 120)))
    time.sleep(float(ctx.params.get("sleep_ms", 0)) / 1000)
    _trace(ctx, obj.key)
