"""Arguments and flags that several commands share, declared once so they read the same."""

from __future__ import annotations

from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
JobArg = Annotated[str, typer.Argument(help="The job id")]
