"""Preflight: what the account and the parameters must satisfy before a deploy can succeed.

`baton doctor` (and `baton deploy` before it deploys) runs these against the real account, read
only, and refuses with what to change. The same list is in README.md and docs/deploy.md
("Prerequisites"). The offline rules (parameter constraints, documented limits) are the deploy
rehearsal's own (infra/rehearsal.py).

AWS calls (all read-only): lambda GetAccountSettings and GetFunctionConcurrency (the stack's own
functions, when updating), cloudformation DescribeStacks, s3 HeadBucket, dynamodb DescribeTable,
kms DescribeKey, sts GetCallerIdentity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import create_loader
from botocore.parsers import ResponseParserError

from .rehearsal import (
    LIMITS,
    LIST_PARAMETERS,
    STACK_NAME_MAX,
    STACK_NAME_PATTERN,
    Case,
    check_documented_limits,
    check_parameters,
)
from .resolve import Resolver
from .sam import load_template

WATCHDOG_RESERVED = 1
BUCKET_LISTS = ("ListBuckets", "ReadBuckets", "WriteBuckets")
# Service Quotas code of Lambda's "Concurrent executions".
CONCURRENCY_QUOTA_CODE = "L-B99A9384"


@dataclass(frozen=True)
class Problem:
    """One thing that would make the deploy fail (or the stack useless), and what to do."""

    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.fix}"


@dataclass(frozen=True)
class Report:
    region: str
    account: str
    concurrency_quota: int | None
    needed_concurrency: int
    problems: list[Problem]
    # What could not be checked (a read refused): the deploy may go on; check these by hand.
    unchecked: list[Problem] = field(default_factory=list)


@cache
def _region_patterns() -> tuple[re.Pattern[str], ...]:
    """Each partition's region-name shape, from botocore's partition data (so a region launched
    after this release, us-east-9 say, is still taken)."""
    partitions = create_loader().load_data("partitions")["partitions"]
    return tuple(re.compile(p["regionRegex"], re.ASCII) for p in partitions)


def is_region(name: str) -> bool:
    """Whether `name` has the shape of a region of some AWS partition (us-east-1, cn-north-1,
    us-gov-west-1, ...). Says nothing of whether the account has it enabled."""
    return any(p.fullmatch(name) for p in _region_patterns())


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def valid_stack_name(stack_name: str) -> bool:
    """CloudFormation's stack name pattern, short enough for the names derived from it."""
    return len(stack_name) <= STACK_NAME_MAX and bool(STACK_NAME_PATTERN.fullmatch(stack_name))


def offline_problems(stack_name: str, parameters: dict[str, str]) -> list[Problem]:
    """The stack name and the parameters against the template and the documented limits."""
    template = load_template()
    found: list[Problem] = []
    if not valid_stack_name(stack_name):
        found.append(
            Problem(
                f"stack name {stack_name!r} ({len(stack_name)} characters)",
                f"use at most {STACK_NAME_MAX} characters of letters, digits and '-', starting "
                f"with a letter ('<stack>-watchdog' must fit Lambda's 64-character names)",
            )
        )
    resolver = Resolver(template, stack_name, parameters)
    for where, message in check_parameters(resolver):
        spec = template["Parameters"].get(where.split()[1].split("=")[0], {})
        hint = spec.get("ConstraintDescription") or spec.get("Description", "")
        found.append(Problem(f"{where}: {message}", hint or "see docs/deploy.md, Parameters"))
    case = Case(name="yours", why="", stack_name=stack_name, parameters=parameters)
    for where, message in check_documented_limits(case):
        if where.startswith("documented limit"):
            name = where.split()[-1]
            found.append(
                Problem(
                    f"parameter {name}",
                    f"{message} (docs/deploy.md, Limits): deploy a second stack for the rest",
                )
            )
    return found


def reserved_by_the_stack(
    parameters: dict[str, str], template: dict[str, Any] | None = None
) -> int:
    template = template or load_template()
    worker = parameters.get(
        "WorkerReservedConcurrency",
        str(template["Parameters"]["WorkerReservedConcurrency"]["Default"]),
    )
    return int(float(worker)) + WATCHDOG_RESERVED


class Unchecked(Exception):
    """A check whose input could not be read; it carries what to check by hand."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def concurrency_problems(
    lambda_client: Any, stack_name: str | None, parameters: dict[str, str]
) -> tuple[int | None, int, list[Problem]]:
    """The account's Lambda concurrency quota against what the stack reserves: Lambda keeps 100
    unreserved (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html).
    With no stack name (an invalid one), an existing stack's reservations are not read."""
    try:
        needed = reserved_by_the_stack(parameters)
    except (ValueError, OverflowError):  # 'abc', 'inf'
        return None, 0, []  # a parameter problem, reported by offline_problems
    try:
        settings = lambda_client.get_account_settings()
    except ClientError as exc:
        raise Unchecked(
            Problem(
                f"Lambda concurrency quota not read (GetAccountSettings: {_code(exc)})",
                f"check by hand that the region's 'Concurrent executions' quota is at least "
                f"{needed + LIMITS['unreserved_concurrency_min'].value} (Service Quotas, "
                f"{CONCURRENCY_QUOTA_CODE}), or allow lambda:GetAccountSettings",
            )
        ) from exc
    quota = int(settings["AccountLimit"]["ConcurrentExecutions"])
    unreserved = int(settings["AccountLimit"]["UnreservedConcurrentExecutions"])
    # Updating the stack: its functions' reservations are already out of the unreserved pool.
    held = 0
    for suffix in ("-worker", "-watchdog") if stack_name is not None else ():
        try:
            answer = lambda_client.get_function_concurrency(FunctionName=f"{stack_name}{suffix}")
            held += int(answer.get("ReservedConcurrentExecutions", 0) or 0)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
    floor = LIMITS["unreserved_concurrency_min"].value
    problems = []
    if unreserved + held - needed < floor:
        least = quota - unreserved - held + needed + floor
        problems.append(
            Problem(
                f"Lambda concurrency: the account's quota is {quota} ({unreserved} unreserved); "
                f"the stack reserves {needed} (worker {needed - WATCHDOG_RESERVED}, watchdog "
                f"{WATCHDOG_RESERVED}) and Lambda keeps {floor} unreserved",
                f"ask for a 'Concurrent executions' quota of at least {least} (Service Quotas, "
                f"AWS Lambda, {CONCURRENCY_QUOTA_CODE}), or lower WorkerReservedConcurrency",
            )
        )
    return quota, needed + floor, problems


def _names(parameters: dict[str, str], name: str) -> list[str]:
    return [v for v in parameters.get(name, "").split(",") if v]


def data_problems(
    s3: Any, dynamodb: Any, kms: Any, parameters: dict[str, str], region: str
) -> list[Problem]:
    """Every bucket, table and key named exists and this identity can see it."""
    found = []
    for name in BUCKET_LISTS:
        for bucket in _names(parameters, name):
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError as exc:
                code = _code(exc)
                why = "does not exist" if code in ("404", "NoSuchBucket") else f"refused ({code})"
                found.append(
                    Problem(
                        f"bucket {bucket} ({name}) {why}",
                        "fix the name, or check these credentials may see it",
                    )
                )
    for name in ("ScanTableArns", "UpdateTableArns"):
        for arn in _names(parameters, name):
            table_region, table = arn.split(":")[3], arn.rsplit("/", 1)[-1]
            if table_region != region:
                found.append(
                    Problem(
                        f"table {arn} ({name}) is in {table_region}",
                        f"the stack deploys to {region}: a job reads tables in its own region",
                    )
                )
                continue
            try:
                dynamodb.describe_table(TableName=table)
            except ClientError as exc:
                found.append(
                    Problem(f"table {arn} ({name}): {_code(exc)}", "fix the ARN or the region")
                )
    for arn in _names(parameters, "KmsKeyArns"):
        try:
            kms.describe_key(KeyId=arn)
        except ClientError as exc:
            found.append(Problem(f"KMS key {arn}: {_code(exc)}", "fix the ARN"))
    return found


def stack_problems(cloudformation: Any, dynamodb: Any, stack_name: str) -> list[Problem]:
    """A new stack whose table a deleted stack of the same name left behind cannot be created."""
    try:
        cloudformation.describe_stacks(StackName=stack_name)
        return []  # an update: the table is the stack's own
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
    try:
        dynamodb.describe_table(TableName=f"{stack_name}-jobs")
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return []
        raise
    return [
        Problem(
            f"table {stack_name}-jobs exists but stack {stack_name} does not (a deleted stack "
            f"keeps its table)",
            "deploy under another stack name, or delete that table (docs/deploy.md, 'Delete "
            "the stack, deploy it again')",
        )
    ]


def preflight(session: Any, stack_name: str, parameters: dict[str, str]) -> Report:
    """Every problem found, offline and in the account. Raises nothing for what it can report;
    a failure to reach AWS at all is one problem."""
    problems = offline_problems(stack_name, parameters)
    region = session.region_name or ""
    if not region:
        problems.append(Problem("no region", "set AWS_REGION (or --region, or a profile's)"))
        return Report("", "", None, 0, problems)
    unchecked: list[Problem] = []
    quota: int | None = None
    try:
        needed = reserved_by_the_stack(parameters) + LIMITS["unreserved_concurrency_min"].value
    except (ValueError, OverflowError):
        needed = 0
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        named = valid_stack_name(stack_name)
        if not named:
            # Its problem is reported above; sent to AWS, the name can only fail (moto echoes
            # a control character into an error botocore cannot parse).
            unchecked.append(
                Problem(
                    "an existing stack of that name (its table, its functions' reservations)",
                    "not looked for: run `baton doctor` again once the stack name is valid",
                )
            )
        try:
            quota, needed, found = concurrency_problems(
                session.client("lambda"), stack_name if named else None, parameters
            )
            problems += found
        except Unchecked as exc:
            unchecked.append(exc.problem)
        problems += data_problems(
            session.client("s3"),
            session.client("dynamodb"),
            session.client("kms"),
            parameters,
            region,
        )
        if named:
            problems += stack_problems(
                session.client("cloudformation"), session.client("dynamodb"), stack_name
            )
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        # A ResponseParserError is not a BotoCoreError: an answer not in AWS's format.
        fix = (
            f"{str(exc)[:300]}: the endpoint did not answer as AWS does; check AWS_ENDPOINT_URL "
            f"and any proxy"
            if isinstance(exc, ResponseParserError)
            else f"{exc}: check the credentials"
        )
        problems.append(Problem("cannot read the account", fix))
        return Report(region, "", None, 0, problems)
    return Report(region, str(account), quota, needed, problems, unchecked)


__all__ = ["LIST_PARAMETERS", "Problem", "Report", "is_region", "preflight"]
