"""An IAM policy evaluator for the template's policies: Allow and Deny, Action and NotAction,
Resource and NotResource, `*` and `?` wildcards, and the condition operators the template uses.

It follows IAM's evaluation logic for one account: an explicit Deny in any applicable policy
(identity or resource) wins; otherwise an Allow in an identity policy allows; otherwise the
request is implicitly denied. Actions match case-insensitively, resources case-sensitively.
A condition operator it does not know makes it refuse the statement instead of guessing, and a
condition key missing from the request context makes the condition false (IAM's rule for
operators without IfExists).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

SUPPORTED_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
RESOURCE_POLICY_KEYS = SUPPORTED_KEYS | {"Principal"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case).match(value))


def _bool(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


CONDITION_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "Bool": _bool,
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": matches,
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": matches,
}


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: Mapping[str, Mapping[str, Any]]
    sid: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, resource_policy: bool = False) -> Statement:
        allowed = RESOURCE_POLICY_KEYS if resource_policy else SUPPORTED_KEYS
        unsupported = set(raw) - allowed
        if unsupported:
            raise ValueError(f"the evaluator cannot judge {raw}: {unsupported}")
        if raw.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"Effect must be Allow or Deny: {raw}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise ValueError(f"exactly one of Action and NotAction: {raw}")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise ValueError(f"exactly one of Resource and NotResource: {raw}")
        if resource_policy and raw.get("Principal") not in ("*", {"AWS": "*"}):
            raise ValueError(f"only Principal * is supported in a resource policy: {raw}")
        for operator in raw.get("Condition", {}):
            if operator not in CONDITION_OPERATORS:
                raise ValueError(f"condition operator {operator} is not supported: {raw}")
        return cls(
            effect=raw["Effect"],
            actions=tuple(as_list(raw.get("Action", raw.get("NotAction")))),
            not_action="NotAction" in raw,
            resources=tuple(as_list(raw.get("Resource", raw.get("NotResource")))),
            not_resource="NotResource" in raw,
            condition=raw.get("Condition", {}),
            sid=str(raw.get("Sid", "")),
        )

    def action_matches(self, action: str) -> bool:
        hit = any(matches(a, action, ignore_case=True) for a in self.actions)
        return hit != self.not_action

    def resource_matches(self, resource: str) -> bool:
        hit = any(matches(r, resource) for r in self.resources)
        return hit != self.not_resource

    def condition_holds(self, context: Mapping[str, str]) -> bool:
        for operator, tests in self.condition.items():
            compare = CONDITION_OPERATORS[operator]
            for key, expected in tests.items():
                if key not in context:
                    return False
                if not any(compare(str(e), context[key]) for e in as_list(expected)):
                    return False
        return True

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        return (
            self.action_matches(action)
            and self.resource_matches(resource)
            and self.condition_holds(context)
        )


def statements(
    documents: Iterable[dict[str, Any]], *, resource_policy: bool = False
) -> Iterator[Statement]:
    for document in documents:
        for raw in as_list(document["Statement"]):
            yield Statement.parse(raw, resource_policy=resource_policy)


# What every request to AWS through an SDK carries (the SDKs use HTTPS).
DEFAULT_CONTEXT = {"aws:SecureTransport": "true"}


def decide(
    identity: Iterable[dict[str, Any]],
    action: str,
    resource: str,
    *,
    resource_policies: Iterable[dict[str, Any]] = (),
    context: Mapping[str, str] = DEFAULT_CONTEXT,
) -> str:
    """ "Allow", "ExplicitDeny" or "ImplicitDeny" for one request."""
    own = list(statements(identity))
    theirs = list(statements(resource_policies, resource_policy=True))
    if any(s.effect == "Deny" and s.applies(action, resource, context) for s in own + theirs):
        return "ExplicitDeny"
    if any(s.effect == "Allow" and s.applies(action, resource, context) for s in own):
        return "Allow"
    return "ImplicitDeny"


def allows(
    documents: Iterable[dict[str, Any]],
    action: str,
    resource: str,
    *,
    resource_policies: Iterable[dict[str, Any]] = (),
    context: Mapping[str, str] = DEFAULT_CONTEXT,
) -> bool:
    decision = decide(
        documents, action, resource, resource_policies=resource_policies, context=context
    )
    return decision == "Allow"


def grants(documents: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every (action, resource) pair the Allow statements name, as written."""
    out = set()
    for statement in statements(documents):
        if statement.effect != "Allow":
            continue
        if statement.not_action or statement.not_resource:
            raise ValueError(f"an Allow with NotAction or NotResource grants too much: {statement}")
        out |= {(a, r) for a in statement.actions for r in statement.resources}
    return out


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
