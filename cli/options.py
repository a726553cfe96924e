"""Arguments and flags that several commands share, declared once so they read the same."""

from __future__ import annotations

from typing import Annotated

import typer

from baton.store.constants import JOB_ID_PATTERN


def _job_id(value: str) -> str:
    """A job id as the store keeps them, so a typo (or '') is a usage error, not DynamoDB's."""
    if not JOB_ID_PATTERN.match(value):
        raise typer.BadParameter(f"a job id is 1-128 of A-Z a-z 0-9 . _ -, got {value!r}")
    return value


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
JobArg = Annotated[str, typer.Argument(help="The job id", callback=_job_id)]
