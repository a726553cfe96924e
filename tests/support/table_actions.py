"""Per-item functions for dynamodb-scan tests (BATON_ACTION_MODULES lists this module).

`backfill` is the shape of a real backfill: a conditional update that sets an attribute once,
so an item visited again after a crash (at-least-once) is left as it is and counted as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

seen: Counter[str] = Counter()
hooks: dict[str, Callable[[], None]] = {}


def reset() -> None:
    seen.clear()
    hooks.clear()


def backfill(item: dict[str, Any], ctx: Any) -> None:
    """Set `migrated` (and count the write in `writes`) unless the item has it already."""
    try:
        ctx.dynamodb.update_item(
            TableName=ctx.table,
            Key=ctx.key,
            UpdateExpression="SET migrated = :v ADD writes :one",
            ConditionExpression="attribute_not_exists(migrated)",
            ExpressionAttributeValues={
                ":v": {"S": str(ctx.params.get("value", "v2"))},
                ":one": {"N": "1"},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        ctx.count("already_migrated", 1)
        return
    ctx.count("migrated", 1)


def record(item: dict[str, Any], ctx: Any) -> None:
    """Remember every item visited (in-process tests read `seen`)."""
    pk = item["pk"]["S"]
    hook = hooks.pop(pk, None)
    if hook is not None:
        hook()
    seen[pk] += 1
