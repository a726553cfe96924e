"""One racer: at a given instant, try to claim each of N jobs at epoch 1; print what it won.

Run as `python -m tests.support.race_claims ENDPOINT TABLE JOBS OWNER`. The racer connects,
prints `ready`, reads the start instant (ms since the epoch) from stdin, waits for it, races,
and prints `{"owner", "won"}`. Several racers released together race conditional writes on the
same items through one server.
"""

from __future__ import annotations

import json
import sys
import time

from baton.store.job_store import JobStore
from baton.store.lease_holder import LeaseHolder
from baton.store.model import bind_job_model

STAGGER_MS = 40


def main() -> None:
    endpoint, table, jobs, owner = sys.argv[1:5]
    model = bind_job_model(table, "us-east-1", endpoint)
    model.Meta.aws_access_key_id = "local"
    model.Meta.aws_secret_access_key = "local"
    store = JobStore(model)
    store.find("warm-up-the-connection")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    start_ms = int(sys.stdin.readline().strip())
    deadline = start_ms + 60_000
    won = []
    for i in range(int(jobs)):
        # Every racer fires at job i at the same instant: one synchronised race per job.
        while time.time_ns() // 1_000_000 < start_ms + i * STAGGER_MS:
            time.sleep(0.0002)
        result = store.claim(f"race-{i:03d}", 1, owner, deadline)
        if isinstance(result, LeaseHolder):
            won.append(i)
    sys.stdout.write(json.dumps({"owner": owner, "won": won}) + "\n")


if __name__ == "__main__":
    main()
