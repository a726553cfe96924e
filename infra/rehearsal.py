"""The deploy rehearsal: the template transformed and resolved for every parameter set a user may
deploy, each resolved resource held to the rules AWS applies when the stack is created.

moto accepts what AWS refuses (an empty policy, a 66-character function name, a policy over its
size), so a template that deploys into moto can still roll back on its first real deploy. This
transforms the SAM template offline (aws-sam-translator), resolves it as CloudFormation would
(infra/resolve.py: conditions, `Fn::If` / `AWS::NoValue`, `Fn::Sub`, parameter references) for
each case of the MATRIX, and checks:

- the parameter values against the template's constraints (Type, MinValue/MaxValue,
  AllowedValues, AllowedPattern, MinLength/MaxLength), as CloudFormation does before anything;
- the stack name, and the names derived from it, against each service's length and pattern;
- every IAM policy: a non-empty `Statement`, the grammar and the actions and resources (parliament,
  an offline IAM policy linter, with its own copy of AWS's service authorization reference), the
  size of a role's inline policies together and of each managed policy, and the managed policies
  attached to a role;
- the functions' memory, timeout, `/tmp` size, and the reserved concurrency the account must
  have room for (Lambda keeps 100 unreserved);
- alarms' periods, and the dashboard's body.

    python -m infra.rehearsal                # every case; exit 1 on any finding
    python -m infra.rehearsal --markdown     # the matrix as docs/deploy.md lists it

Every figure is in LIMITS below with its source.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .resolve import ResolveError, Resolver

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Limit:
    value: int
    source: str


# AWS's published rules the rehearsal applies: one table, each with its source.
LIMITS = {
    # "Role policy size cannot exceed 10,240 characters" (all inline policies of a role together);
    # "IAM doesn't count white space when calculating the size of a policy".
    "role_inline_policies_chars": Limit(
        10_240, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    "managed_policy_chars": Limit(
        6_144, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    # AssumeRolePolicySizeQuota, default 2,048 non-whitespace characters.
    "trust_policy_chars": Limit(
        2_048, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    # Managed policies attached to a role: 10 by default (20 with a quota increase).
    "managed_policies_per_role": Limit(
        10, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    "role_name_chars": Limit(
        64, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    "policy_name_chars": Limit(
        128, "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    ),
    "function_name_chars": Limit(
        64, "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (FunctionName)"
    ),
    "function_memory_mb_min": Limit(
        128, "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (MemorySize)"
    ),
    "function_memory_mb_max": Limit(
        10_240, "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (MemorySize)"
    ),
    "function_timeout_s": Limit(
        900, "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (Timeout)"
    ),
    "ephemeral_storage_mb_min": Limit(
        512, "https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html"
    ),
    "ephemeral_storage_mb_max": Limit(
        10_240, "https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html"
    ),
    # "You can reserve concurrency for as many functions as you like, as long as you leave at
    # least 100 simultaneous executions unreserved" (PutFunctionConcurrency).
    "unreserved_concurrency_min": Limit(
        100, "https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html"
    ),
    # The default Concurrent executions quota of an established account; new accounts may have
    # 10 or 50 (then nothing can be reserved: `baton doctor` reads the real one).
    "account_concurrency_default": Limit(
        1_000, "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
    ),
    "stack_name_chars": Limit(
        128,
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html",
    ),
    "log_group_name_chars": Limit(
        512,
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    ),
    "table_name_chars": Limit(
        255, "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html"
    ),
    "budget_name_chars": Limit(
        100,
        "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html",
    ),
    "dashboard_name_chars": Limit(
        255,
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
    ),
    # "the product of EvaluationPeriods and Period" at most one day for periods under an hour,
    # seven days otherwise (PutMetricAlarm).
    "alarm_window_s_short_periods": Limit(
        86_400,
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    "alarm_window_s": Limit(
        604_800,
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
}

# What baton's documentation allows a user to deploy (docs/deploy.md, "Limits"): the largest
# case of the matrix uses each of these, and `baton doctor` refuses more.
WATCHDOG_SUFFIX = "-watchdog"  # the longest name derived from the stack: "<stack>-watchdog"
STACK_NAME_MAX = LIMITS["function_name_chars"].value - len(WATCHDOG_SUFFIX)  # 55
BUCKETS_PER_LIST_MAX = 25  # ListBuckets, ReadBuckets, WriteBuckets: each
TABLES_PER_LIST_MAX = 8  # ScanTableArns, UpdateTableArns: each
KMS_KEYS_MAX = 20
LIST_PARAMETERS = {
    "ListBuckets": BUCKETS_PER_LIST_MAX,
    "ReadBuckets": BUCKETS_PER_LIST_MAX,
    "WriteBuckets": BUCKETS_PER_LIST_MAX,
    "ScanTableArns": TABLES_PER_LIST_MAX,
    "UpdateTableArns": TABLES_PER_LIST_MAX,
    "KmsKeyArns": KMS_KEYS_MAX,
}
STACK_NAME_PATTERN = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
FUNCTION_NAME_PATTERN = re.compile(r"[a-zA-Z0-9-_]+")
IAM_NAME_PATTERN = re.compile(r"[\w+=,.@-]+")
# The template's Number parameters that may hold a fraction: every other one feeds an Integer
# property (MemorySize, Timeout, ReservedConcurrentExecutions, RetentionInDays, ...) or a count the
# worker reads with int(), where 1.5 fails the deploy or the worker's start.
FRACTIONAL_NUMBERS = frozenset({"MonthlyBudgetUsd"})


@dataclass(frozen=True)
class Case:
    """One parameter set a user may deploy."""

    name: str
    why: str
    stack_name: str = "baton"
    region: str = "us-east-1"
    parameters: dict[str, str] = field(default_factory=dict)
    account_concurrency: int = LIMITS["account_concurrency_default"].value


@dataclass(frozen=True)
class Finding:
    case: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.case}] {self.where}: {self.message}"


# ---------------------------------------------------------------------------- the matrix


def example_files(folder: Path = HERE) -> list[Path]:
    """Every SAM CLI configuration example the repository ships (never the user's own)."""
    return sorted(p for p in folder.glob("samconfig*.toml") if p.name != "samconfig.toml")


def case_of_samconfig(path: Path) -> Case:
    """The stack name, region and parameter overrides of a SAM CLI configuration file."""
    config = tomllib.loads(path.read_text(encoding="utf-8"))["default"]
    merged: dict[str, Any] = {}
    for section in ("global", "deploy"):
        merged.update(config.get(section, {}).get("parameters", {}))
    overrides = merged.get("parameter_overrides", "")
    if isinstance(overrides, list):
        overrides = " ".join(overrides)
    parameters = dict(item.split("=", 1) for item in shlex.split(overrides))
    return Case(
        name=path.name,
        why="an example configuration the repository ships",
        stack_name=merged.get("stack_name", "baton"),
        region=merged.get("region", "us-east-1"),
        parameters=parameters,
    )


def longest_names(parameter: str, count: int, partition: str, region: str) -> str:
    """`count` distinct values of the longest form the parameter's pattern allows."""
    account = "123456789012"
    values = []
    for i in range(count):
        tag = f"{i:02d}"
        if parameter.endswith("Buckets"):
            values.append(("b" + tag).ljust(63, "x"))
        elif parameter.endswith("TableArns"):
            values.append(
                f"arn:{partition}:dynamodb:{region}:{account}:table/" + ("t" + tag).ljust(255, "x")
            )
        else:
            values.append(
                f"arn:{partition}:kms:{region}:{account}:key/{i:08d}-0000-0000-0000-000000000000"
            )
    return ",".join(values)


def full_case(stack_name_max: int = STACK_NAME_MAX, list_max: dict[str, int] | None = None) -> Case:
    """Every optional list filled to the most the docs allow, with the longest names, the
    longest stack name, in the partition with the longest ARNs."""
    region = "us-gov-west-1"
    counts = {**LIST_PARAMETERS, **(list_max or {})}
    parameters = {
        name: longest_names(name, count, "aws-us-gov", region) for name, count in counts.items()
    }
    parameters |= {
        "AlarmTopicArn": f"arn:aws-us-gov:sns:{region}:123456789012:" + "t" * 256,
        "MonthlyBudgetUsd": "100",
        "BudgetEmail": "ops@example.com",
        "StateExpirationDays": "30",
        "WorkerEphemeralStorageMB": "10240",
    }
    return Case(
        name="full",
        why="every optional list at the documented maximum, longest names and stack name",
        stack_name=("b" + "-x" * stack_name_max)[:stack_name_max],
        region=region,
        parameters=parameters,
    )


def matrix(
    stack_name_max: int = STACK_NAME_MAX, list_max: dict[str, int] | None = None
) -> list[Case]:
    return [
        Case(name="defaults", why="every parameter at its default (the guided deploy's Enter)"),
        *(case_of_samconfig(p) for p in example_files()),
        full_case(stack_name_max, list_max),
        Case(
            name="kill-switch",
            why="reserved concurrency 0 deployed (the kill switch through CloudFormation)",
            parameters={"WorkerReservedConcurrency": "0"},
        ),
    ]


# ---------------------------------------------------------------------------- rules


def policy_chars(document: Any) -> int:
    """A policy's size as IAM counts it: its JSON without white space."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def check_parameters(resolver: Resolver) -> Iterator[tuple[str, str]]:
    """The values against the template's constraints, as CloudFormation checks them first
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html:
    AllowedPattern must match the whole value; a CommaDelimitedList's constraints apply to each
    element)."""
    specs = resolver.template.get("Parameters", {})
    for name in resolver.parameters:
        if name not in specs:
            yield f"parameter {name}", "the template has no such parameter"
    for name, spec in specs.items():
        try:
            value = resolver.parameter_value(name)
        except ResolveError as e:
            yield f"parameter {name}", str(e)
            continue
        kind = spec["Type"]
        values = value.split(",") if kind == "CommaDelimitedList" else [value]
        for v in values:
            where = f"parameter {name}={v!r}"
            if kind == "Number":
                try:
                    number = float(v)
                except ValueError:
                    yield where, "is not a number"
                    continue
                if not math.isfinite(number):
                    yield where, "is not a finite number"
                    continue
                if name not in FRACTIONAL_NUMBERS and not number.is_integer():
                    yield where, "is not a whole number"
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    yield where, f"is below MinValue {spec['MinValue']}"
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    yield where, f"is above MaxValue {spec['MaxValue']}"
            if "AllowedValues" in spec and v not in [str(a) for a in spec["AllowedValues"]]:
                yield where, f"is not one of AllowedValues {spec['AllowedValues']}"
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], v):
                yield where, f"does not match AllowedPattern {spec['AllowedPattern']}"
            if "MaxLength" in spec and len(v) > int(spec["MaxLength"]):
                yield where, f"is longer than MaxLength {spec['MaxLength']}"
            if "MinLength" in spec and len(v) < int(spec["MinLength"]):
                yield where, f"is shorter than MinLength {spec['MinLength']}"


def check_documented_limits(case: Case) -> Iterator[tuple[str, str]]:
    """What the docs allow (and `baton doctor` enforces), which CloudFormation cannot express."""
    if len(case.stack_name) > STACK_NAME_MAX:
        yield (
            "stack name",
            (
                f"{case.stack_name!r} has {len(case.stack_name)} characters; "
                f"at most {STACK_NAME_MAX} "
                f"so that '<stack>{WATCHDOG_SUFFIX}' fits Lambda's 64"
            ),
        )
    for name, most in LIST_PARAMETERS.items():
        given = [v for v in case.parameters.get(name, "").split(",") if v]
        if len(given) > most:
            yield f"documented limit {name}", f"names {len(given)}; at most {most}"


def check_stack_name(case: Case) -> Iterator[tuple[str, str]]:
    limit = LIMITS["stack_name_chars"].value
    if len(case.stack_name) > limit or not STACK_NAME_PATTERN.fullmatch(case.stack_name):
        yield "stack name", f"{case.stack_name!r} must match [a-zA-Z][-a-zA-Z0-9]* and fit {limit}"


def _over(where: str, what: str, size: int, limit: str) -> Iterator[tuple[str, str]]:
    most = LIMITS[limit]
    if size > most.value:
        yield where, f"{what} is {size} characters; IAM allows {most.value} ({most.source})"


def _statements_problems(document: Any) -> Iterator[str]:
    """IAM's policy grammar, the part the linter does not cover: `Statement` must be a
    statement or a non-empty list of them
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html:
    <statement_block> = "Statement" : [ <statement>, <statement>, ... ]; IAM refuses an empty
    list as MalformedPolicyDocument)."""
    if not isinstance(document, dict):
        yield "is not an object"
        return
    if document.get("Version") != "2012-10-17":
        yield f"Version is {document.get('Version')!r}, not '2012-10-17'"
    statements = document.get("Statement")
    if statements in (None, [], {}):
        yield "has no statement: IAM refuses it (MalformedPolicyDocument)"
        return
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            yield f"has a statement that is not an object: {statement!r}"
        elif statement.get("Effect") not in ("Allow", "Deny"):
            yield f"statement {statement.get('Sid', '?')}: Effect must be Allow or Deny"


def lint_policy(document: Any) -> list[str]:
    """parliament's findings on one identity policy (an offline linter of IAM policies: unknown
    actions, resources that do not fit the action, malformed statements)."""
    from parliament import analyze_policy_string  # type: ignore[import-untyped]

    policy = analyze_policy_string(json.dumps(document))
    return [f"{f.issue}: {f.detail}" for f in policy.findings]


def check_iam(
    resources: dict[str, dict[str, Any]], linter: Callable[[Any], list[str]] | None
) -> Iterator[tuple[str, str]]:
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    attached: dict[str, int] = {
        k: len(r["Properties"].get("ManagedPolicyArns", [])) for k, r in roles.items()
    }
    documents: list[tuple[str, Any]] = []
    for logical, resource in resources.items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::IAM::Role":
            inline = props.get("Policies", [])
            yield from _over(
                logical,
                "the inline policies together",
                sum(policy_chars(p["PolicyDocument"]) for p in inline),
                "role_inline_policies_chars",
            )
            yield from _over(
                logical,
                "the trust policy",
                policy_chars(props["AssumeRolePolicyDocument"]),
                "trust_policy_chars",
            )
            name = props.get("RoleName", "")
            if len(name) > LIMITS["role_name_chars"].value:
                yield logical, f"RoleName has {len(name)} characters (IAM allows 64)"
            for policy in inline:
                if len(policy["PolicyName"]) > LIMITS["policy_name_chars"].value:
                    yield logical, f"policy name {policy['PolicyName']!r} is too long"
                documents.append(
                    (f"{logical} policy {policy['PolicyName']}", policy["PolicyDocument"])
                )
            for problem in _statements_problems(props["AssumeRolePolicyDocument"]):
                yield f"{logical} trust policy", problem
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            yield from _over(
                logical, "the policy", policy_chars(props["PolicyDocument"]), "managed_policy_chars"
            )
            documents.append((logical, props["PolicyDocument"]))
            for role in props.get("Roles", []):
                logical_role = next((k for k, r in roles.items() if _role_name(k, r) == role), role)
                attached[logical_role] = attached.get(logical_role, 0) + 1
    for role, count in attached.items():
        most = LIMITS["managed_policies_per_role"]
        if count > most.value:
            yield (
                role,
                f"{count} managed policies attached; IAM allows {most.value} ({most.source})",
            )
    for where, document in documents:
        for problem in _statements_problems(document):
            yield where, problem
        if linter is not None and document.get("Statement"):
            for problem in linter(document):
                yield where, problem


def _role_name(logical: str, resource: dict[str, Any]) -> str:
    return str(resource["Properties"].get("RoleName", logical))


def check_functions(case: Case, resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str]]:
    reserved = 0
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        name = str(props.get("FunctionName", logical))
        most = LIMITS["function_name_chars"]
        if len(name) > most.value or not FUNCTION_NAME_PATTERN.fullmatch(name):
            yield (
                logical,
                f"FunctionName {name!r} has {len(name)} characters; "
                f"Lambda allows {most.value} ({most.source})",
            )
        memory = int(props.get("MemorySize", 128))
        if (
            not LIMITS["function_memory_mb_min"].value
            <= memory
            <= LIMITS["function_memory_mb_max"].value
        ):
            yield logical, f"MemorySize {memory} is outside 128-10240"
        if int(props.get("Timeout", 3)) > LIMITS["function_timeout_s"].value:
            yield logical, f"Timeout {props['Timeout']} is above 900"
        storage = int(props.get("EphemeralStorage", {}).get("Size", 512))
        if (
            not LIMITS["ephemeral_storage_mb_min"].value
            <= storage
            <= LIMITS["ephemeral_storage_mb_max"].value
        ):
            yield logical, f"EphemeralStorage {storage} is outside 512-10240"
        reserved += int(props.get("ReservedConcurrentExecutions", 0))
    floor = LIMITS["unreserved_concurrency_min"]
    if reserved and case.account_concurrency - reserved < floor.value:
        yield (
            "ReservedConcurrentExecutions",
            (
                f"the functions reserve {reserved}; an account with a concurrency quota of "
                f"{case.account_concurrency} has room for {case.account_concurrency - floor.value} "
                f"(Lambda keeps {floor.value} unreserved: {floor.source})"
            ),
        )


def required_concurrency(resources: dict[str, dict[str, Any]]) -> int:
    """The account concurrency quota the stack needs: its reservations plus Lambda's 100."""
    reserved = sum(
        int(r["Properties"].get("ReservedConcurrentExecutions", 0))
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    return reserved + LIMITS["unreserved_concurrency_min"].value if reserved else 0


def check_other_resources(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for logical, resource in resources.items():
        props = resource["Properties"]
        kind = resource["Type"]
        if kind == "AWS::Logs::LogGroup":
            if len(props.get("LogGroupName", "")) > LIMITS["log_group_name_chars"].value:
                yield logical, "LogGroupName is longer than 512 characters"
        elif kind == "AWS::DynamoDB::Table":
            name = props.get("TableName", "abc")
            if not re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", name):
                yield logical, f"TableName {name!r} must be 3-255 of [a-zA-Z0-9_.-]"
        elif kind == "AWS::Budgets::Budget":
            name = props["Budget"].get("BudgetName", "")
            if len(name) > LIMITS["budget_name_chars"].value:
                yield logical, f"BudgetName {name!r} is longer than 100 characters"
        elif kind == "AWS::CloudWatch::Dashboard":
            name = props.get("DashboardName", "")
            if len(name) > LIMITS["dashboard_name_chars"].value or not re.fullmatch(
                r"[A-Za-z0-9_-]*", name
            ):
                yield logical, f"DashboardName {name!r}: at most 255 of A-Za-z0-9_-"
            try:
                body = json.loads(props["DashboardBody"])
            except (TypeError, ValueError) as e:
                yield logical, f"DashboardBody is not JSON: {e}"
                continue
            for widget in body.get("widgets", []):
                if widget.get("type") == "metric" and not widget["properties"].get("metrics"):
                    yield logical, f"widget {widget['properties'].get('title')!r} has no metrics"
        elif kind == "AWS::CloudWatch::Alarm":
            yield from _check_alarm(logical, props)


def _check_alarm(logical: str, props: dict[str, Any]) -> Iterator[tuple[str, str]]:
    period = int(props.get("Period", 60))
    if period not in (10, 20, 30) and period % 60:
        yield logical, f"Period {period} must be 10, 20, 30 or a multiple of 60"
    window = period * int(props["EvaluationPeriods"])
    limit = LIMITS["alarm_window_s_short_periods" if period < 3600 else "alarm_window_s"]
    if window > limit.value:
        yield (
            logical,
            f"EvaluationPeriods x Period is {window} s; at most {limit.value} ({limit.source})",
        )
    if int(props.get("DatapointsToAlarm", 1)) > int(props["EvaluationPeriods"]):
        yield logical, "DatapointsToAlarm is above EvaluationPeriods"
    try:
        float(props["Threshold"])
    except (KeyError, ValueError):
        yield logical, f"Threshold {props.get('Threshold')!r} is not a number"
    if props.get("TreatMissingData", "missing") not in (
        "breaching",
        "notBreaching",
        "ignore",
        "missing",
    ):
        yield logical, f"TreatMissingData {props['TreatMissingData']!r}"


# ---------------------------------------------------------------------------- running it


@dataclass(frozen=True)
class Result:
    case: Case
    findings: list[Finding]
    resources: dict[str, dict[str, Any]]
    required_concurrency: int


def rehearse_case(
    cfn: dict[str, Any], case: Case, linter: Callable[[Any], list[str]] | None = lint_policy
) -> Result:
    """Every finding for one case of the matrix, on the transformed template `cfn`."""
    resolver = Resolver(cfn, case.stack_name, case.parameters, region=case.region)
    raw: list[tuple[str, str]] = [
        *check_parameters(resolver),
        *check_documented_limits(case),
        *check_stack_name(case),
    ]
    resources: dict[str, dict[str, Any]] = {}
    if any(where.startswith("parameter ") for where, _ in raw):
        # CloudFormation refuses the stack on its parameters before it creates anything.
        return Result(case, [Finding(case.name, w, m) for w, m in raw], resources, 0)
    try:
        resources = resolver.resources()
    except (ResolveError, KeyError, ValueError, IndexError) as e:
        raw.append(("template", f"does not resolve: {e}"))
    raw += [
        *check_iam(resources, linter),
        *check_functions(case, resources),
        *check_other_resources(resources),
    ]
    findings = [Finding(case.name, where, message) for where, message in raw]
    return Result(case, findings, resources, required_concurrency(resources))


def rehearse(
    cfn: dict[str, Any] | None = None,
    cases: list[Case] | None = None,
    linter: Callable[[Any], list[str]] | None = lint_policy,
) -> list[Result]:
    if cfn is None:
        from .sam import transform

        cfn = transform()
    return [rehearse_case(cfn, case, linter) for case in (cases or matrix())]


def markdown(results: list[Result]) -> str:
    """The matrix as docs/deploy.md shows it."""
    lines = [
        "| case | stack name | region | parameters | why | needs account concurrency |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.case
        shown = ", ".join(_shown(k, v) for k, v in sorted(c.parameters.items()))
        stack = c.stack_name if len(c.stack_name) < 20 else f"{len(c.stack_name)} characters"
        need = str(r.required_concurrency) if r.required_concurrency else "none (no reservation)"
        lines.append(f"| {c.name} | {stack} | {c.region} | {shown or 'none'} | {c.why} | {need} |")
    return "\n".join(lines)


def _shown(name: str, value: str) -> str:
    if name in LIST_PARAMETERS:
        count = len([v for v in value.split(",") if v])
        return f"`{name}` {count} name{'s' if count != 1 else ''}"
    if len(value) > 40:
        return f"`{name}` ({len(value)} characters)"
    return f"`{name}={value}`"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.rehearsal",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--template", type=Path, help="another SAM template (default: infra's)")
    parser.add_argument("--markdown", action="store_true", help="print the matrix as a table")
    parser.add_argument(
        "--stack-name-max",
        type=int,
        default=STACK_NAME_MAX,
        help="the longest stack name to rehearse (what the docs allow)",
    )
    parser.add_argument(
        "--names-per-list",
        type=int,
        default=None,
        help="names in every optional list of the full case",
    )
    args = parser.parse_args(argv)
    from .sam import load_template, transform

    cfn = transform(load_template(args.template) if args.template else None)
    list_max = None
    if args.names_per_list is not None:
        list_max = dict.fromkeys(LIST_PARAMETERS, args.names_per_list)
    results = rehearse(cfn, matrix(args.stack_name_max, list_max))
    if args.markdown:
        print(markdown(results))
        return 0
    findings = [f for r in results for f in r.findings]
    for r in results:
        status = "FAIL" if r.findings else "ok"
        print(f"{status:4} {r.case.name}: {len(r.resources)} resources, {len(r.findings)} findings")
    for finding in findings:
        print(f"  {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
