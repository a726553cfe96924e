"""Shared fixtures. No test may reach AWS: credentials are dummies and moto intercepts calls."""

from __future__ import annotations

import os

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
