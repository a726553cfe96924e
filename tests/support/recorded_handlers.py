"""The Lambda handlers with the AWS call recorder installed, for local-stack worker processes.

A local stack whose FunctionConfig names `tests.support.recorded_handlers.worker` runs the real
`baton.handler.app.lambda_handler` in its worker processes, and each distinct AWS call they send is
appended to the file in BATON_RECORD_CALLS (tests/support/aws_calls.py). The recorder is
installed at import, before the handler makes its first client.
"""

from __future__ import annotations

from tests.support.aws_calls import install_from_env

install_from_env()

from baton.handler.app import lambda_handler as worker  # noqa: E402
from baton.handler.watchdog import lambda_handler as watchdog  # noqa: E402

__all__ = ["watchdog", "worker"]
