"""`baton doctor`'s checks (infra/preflight.py) against moto, and against Lambda's account
settings as AWS answers them (moto has no GetAccountSettings: botocore's Stubber gives the
documented answer shape with a new account's quota)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.preflight import concurrency_problems, offline_problems, preflight

REGION = "us-east-1"
TABLES = f"arn:aws:dynamodb:{REGION}:123456789012:table/"


def account_settings(quota: int, unreserved: int) -> dict[str, Any]:
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": quota,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


@pytest.fixture
def lambda_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("lambda", region_name=REGION)


def _stubbed(client: Any, quota: int, unreserved: int) -> Stubber:
    stubber = Stubber(client)
    stubber.add_response("get_account_settings", account_settings(quota, unreserved))
    for name in ("baton-worker", "baton-watchdog"):
        stubber.add_client_error(
            "get_function_concurrency",
            service_error_code="ResourceNotFoundException",
            expected_params={"FunctionName": name},
        )
    return stubber


@pytest.mark.parametrize("quota", [10, 50, 110])
def test_a_new_accounts_quota_is_refused_with_the_quota_to_ask_for(
    lambda_client: Any, quota: int
) -> None:
    with _stubbed(lambda_client, quota, quota):
        _, needed, problems = concurrency_problems(lambda_client, "baton", {})
    assert needed == 111
    (problem,) = problems
    assert f"quota is {quota}" in problem.what and "reserves 11" in problem.what
    assert "at least 111" in problem.fix and "L-B99A9384" in problem.fix


def test_an_established_account_and_a_lower_reservation_pass(lambda_client: Any) -> None:
    with _stubbed(lambda_client, 1000, 1000):
        assert concurrency_problems(lambda_client, "baton", {})[2] == []
    with _stubbed(lambda_client, 150, 150):
        assert (
            concurrency_problems(lambda_client, "baton", {"WorkerReservedConcurrency": "49"})[2]
            == []
        )


def test_an_update_counts_the_stacks_own_reservations_as_held(lambda_client: Any) -> None:
    """Updating a deployed stack: its 11 are already out of the unreserved pool."""
    stubber = Stubber(lambda_client)
    stubber.add_response("get_account_settings", account_settings(111, 100))
    stubber.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 10})
    stubber.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 1})
    with stubber:
        assert concurrency_problems(lambda_client, "baton", {})[2] == []


def test_offline_checks_name_the_stack_the_parameters_and_the_limits() -> None:
    found = [str(p) for p in offline_problems("x" * 56, {
        "WorkerReservedConcurrency": "-1",
        "ReadBuckets": ",".join(f"bucket-{i:02d}" for i in range(26)),
    })]  # fmt: skip
    assert any("56 characters" in p and "at most 55" in p for p in found), found
    assert any("WorkerReservedConcurrency='-1': is below MinValue 0" in p for p in found), found
    assert any("ReadBuckets" in p and "at most 25" in p for p in found), found
    assert offline_problems("baton", {"ReadBuckets": "bucket-00"}) == []


def test_a_number_that_is_not_finite_or_not_whole_is_refused_where_an_integer_is_due() -> None:
    def said(name: str, value: str) -> list[str]:
        return [str(p) for p in offline_problems("baton", {name: value})]

    assert any(
        "'nan': is not a finite number" in p for p in said("WorkerReservedConcurrency", "nan")
    )
    assert any("'inf': is not a finite number" in p for p in said("WorkerMemoryMB", "inf"))
    assert any(
        "'1.5': is not a whole number" in p for p in said("WorkerReservedConcurrency", "1.5")
    )
    assert said("WorkerReservedConcurrency", "1e3") == []
    assert said("MonthlyBudgetUsd", "12.5") == [], "a budget in dollars may hold cents"


def test_preflight_finds_missing_buckets_tables_and_a_leftover_table() -> None:
    with warnings.catch_warnings(), mock_aws():
        warnings.simplefilter("ignore")
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket="real-bucket")
        ddb = session.client("dynamodb")
        for name in ("users", "baton-jobs"):
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        report = preflight(
            session,
            "baton",
            {
                "ReadBuckets": "real-bucket,gone-bucket",
                "ScanTableArns": f"{TABLES}users,{TABLES}nope",
                "UpdateTableArns": "arn:aws:dynamodb:eu-west-1:123456789012:table/users",
            },
        )
    problems = [str(p) for p in report.problems]
    assert report.region == REGION and report.account == "123456789012"
    assert any("bucket gone-bucket (ReadBuckets) does not exist" in p for p in problems)
    assert not any("real-bucket" in p for p in problems)
    assert any(f"table {TABLES}nope" in p for p in problems)
    assert any("is in eu-west-1" in p for p in problems)
    assert any("table baton-jobs exists but stack baton does not" in p for p in problems)
    # moto has no GetAccountSettings: what to check by hand, not a refusal.
    assert [p.what for p in report.unchecked] == [
        "Lambda concurrency quota not read (GetAccountSettings: 404)"
    ]


@pytest.mark.parametrize("stack_name", ["\x08", "9lives", "a" * 56, "ba ton"])
def test_an_invalid_stack_name_is_one_problem_and_never_sent_to_aws(stack_name: str) -> None:
    """Found by the CLI's fuzz: `baton doctor --stack-name $'\\b'` sent the name to
    CloudFormation, whose error (as moto writes it) echoed the control character into XML that
    botocore cannot parse, and the command died with a traceback."""
    with warnings.catch_warnings(), mock_aws():
        warnings.simplefilter("ignore")
        session = boto3.session.Session(region_name=REGION)
        sent: list[str] = []
        session.events.register("before-call", lambda model, **_: sent.append(model.name))
        report = preflight(session, stack_name, {})
    assert [p.what for p in report.problems] == [
        f"stack name {stack_name!r} ({len(stack_name)} characters)"
    ]
    assert report.account == "123456789012", "the rest of the account is still checked"
    assert "DescribeStacks" not in sent and "GetFunctionConcurrency" not in sent
    assert any("once the stack name is valid" in p.fix for p in report.unchecked)


def test_remembered_answers_survive_a_round_trip(tmp_path: Any) -> None:
    from infra.deploy import DeployConfig

    path = tmp_path / "baton-deploy.toml"
    config = DeployConfig(
        stack_name="jobs-prod",
        region="eu-west-1",
        confirm=False,
        parameters={"ReadBuckets": "a-bucket,b-bucket", "BudgetEmail": 'o"ps@example.com'},
    )
    config.save(path)
    assert DeployConfig.load(path) == config
    assert DeployConfig.load(tmp_path / "missing.toml") == DeployConfig()


def test_with_the_sam_cli_the_template_runs_the_package_just_built(tmp_path: Any) -> None:
    from infra.deploy import DeployConfig, sam_command

    package = tmp_path / "baton-lambda.zip"
    package.write_bytes(b"zip")
    config = DeployConfig(stack_name="baton", region="eu-west-1")
    config.parameters = {"ReadBuckets": "a-bucket,b-bucket"}
    command = sam_command("sam", tmp_path / "sam", package, config)
    template = (tmp_path / "sam" / "template.yaml").read_text(encoding="utf-8")
    assert f"CodeUri: {package.resolve()}" in template
    assert command[:2] == ["sam", "deploy"]
    assert command[command.index("--stack-name") + 1] == "baton"
    assert command[command.index("--parameter-overrides") + 1] == "ReadBuckets=a-bucket,b-bucket"
    assert "--resolve-s3" in command and "--confirm-changeset" in command
