"""Shared fixtures. No test may reach AWS: credentials are dummies and moto intercepts calls."""

from __future__ import annotations

import os
from typing import Any

# BATON_SLOW_TESTS chooses which tests run; it is no setting of baton's, so it is kept.
KEPT = ("BATON_SLOW_TESTS",)
for _name in list(os.environ):
    if _name in KEPT:
        continue
    if _name.startswith(("AWS_ENDPOINT_URL", "BATON_")) or _name in ("AWS_PROFILE",):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="BatonTest",
    POWERTOOLS_LOG_LEVEL="WARNING",
)

# The test files that take longest, longest first (measured with `--durations`; see
# docs/testing.md). `make test` runs each file whole on one of two workers (--dist loadfile,
# --no-loadscope-reorder): handing the long files out first keeps one worker from starting a
# long file while the other has nothing left. Files not listed follow in their usual order.
LONGEST_FIRST = (
    "tests/test_sim_sweep.py",
    "tests/test_sim.py",
    "tests/test_sim_planted.py",
)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Run the files of LONGEST_FIRST first, in that order (a stable sort: tests keep theirs)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
