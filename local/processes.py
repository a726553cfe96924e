"""What every child process of the stack does, so none outlives the stack.

A child ignores Ctrl-C (the terminal sends SIGINT to the whole process group; the parent decides
what to stop, and in what order) and exits on its own within half a second when its parent dies,
even if the parent was killed with SIGKILL and could clean nothing up.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

PARENT_POLL_S = 0.5


def become_child(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                sys.stderr.write(f"[pid {os.getpid()}] parent {parent_pid} is gone; exiting\n")
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def pythonpath() -> str:
    """The project root first, so children import this checkout's tests.support and benchmarks
    (baton's own packages come from the editable install, under `baton.`)."""
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + existing if existing else "")
