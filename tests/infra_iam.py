"""A small IAM evaluator for the Allow-only policies of the template.

It answers "does this set of policy documents allow action A on resource R?" with IAM's own
matching rules (`*` and `?` wildcards; actions case-insensitive, resources case-sensitive). It is
only sound for Allow statements without NotAction, NotResource or Condition, so it refuses
anything else instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

SUPPORTED_KEYS = {"Sid", "Effect", "Action", "Resource"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(documents: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for document in documents:
        for statement in as_list(document["Statement"]):
            unsupported = set(statement) - SUPPORTED_KEYS
            if unsupported or statement.get("Effect") != "Allow":
                raise ValueError(f"the evaluator cannot judge {statement}: {unsupported}")
            yield statement


def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def allows(documents: Iterable[dict[str, Any]], action: str, resource: str) -> bool:
    for statement in statements(documents):
        if any(
            _pattern(a, ignore_case=True).match(action) for a in as_list(statement["Action"])
        ) and any(
            _pattern(r, ignore_case=False).match(resource) for r in as_list(statement["Resource"])
        ):
            return True
    return False


def grants(documents: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every (action, resource) pair the documents name, as written."""
    return {
        (action, resource)
        for statement in statements(documents)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def policy_documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM policy document anywhere in a template (or any JSON-like tree)."""
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            yield node
        for value in node.values():
            yield from policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_documents(value)
