"""One place that turns expected failures into a one-line message and a non-zero exit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from baton.cli.aws_problems import explain, may_have_landed
from baton.cli.output import EXIT_USAGE, fail
from baton.store.errors import BatonError, ConfigError, InvalidJob, JobConflict, LiveLease

F = TypeVar("F", bound=Callable[..., Any])


def for_the_operator(exc: BatonError) -> str:
    """The store's message, with the flag of this CLI that gets past it where there is one."""
    if isinstance(exc, JobConflict):
        return f"{exc}; choose another --job-id"
    if isinstance(exc, LiveLease) and not exc.forced:
        return f"{exc} (`baton resume --force`)"
    return str(exc)


def handles_errors(command: F) -> F:
    """Wrap a command: usage problems exit 2, everything else that went wrong exits 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (InvalidJob, ConfigError) as exc:
            fail(str(exc), EXIT_USAGE)
        except BatonError as exc:
            plain = explain(exc)
            if plain and may_have_landed(exc):
                fail(f"{for_the_operator(exc)}: {plain}")
            fail(plain or for_the_operator(exc))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            fail(
                explain(exc)
                or f"AWS refused the call: {error.get('Code', '?')}: {error.get('Message', exc)}"
            )
        except BotoCoreError as exc:
            fail(explain(exc) or f"cannot reach AWS: {exc}")
        except PynamoDBException as exc:
            plain = explain(exc)
            if plain:
                fail(plain)
            response = getattr(exc.cause, "response", None)
            error = response.get("Error", {}) if isinstance(response, dict) else {}
            cause = error.get("Message") or str(exc.cause or exc)
            if error.get("Code") == "ResourceNotFoundException":
                cause = "the jobs table does not exist; run `baton init`"
            fail(f"DynamoDB: {cause}")

    return wrapper  # type: ignore[return-value]
