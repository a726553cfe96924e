"""The SAM template: linted, transformed offline, deployed into moto, and held to least privilege.

Nobody here has an AWS account, so the template is proven three ways: cfn-lint on the SAM
template and on its CloudFormation transform, a deploy of the transform into moto's
CloudFormation (every resource created and inspected through the service APIs), and checks on
the template itself for what moto ignores (EventInvokeConfig, RecursiveLoop, architecture,
TTL, point-in-time recovery, bucket settings). The Lambda package is built and imported in a
fresh virtual environment.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from pynamodb.attributes import TTLAttribute

from baton.handler.config import RelaySettings
from baton.store.config import StoreSettings
from baton.store.constants import BY_STATUS_INDEX, DEFAULT_TABLE, REPORT_PREFIX, STATE_PREFIX
from baton.store.model import JobModel
from infra import package as lambda_package
from infra.sam import PLACEHOLDER_CODE_URI, load_template, transform
from tests.infra_iam import allows, grants, policy_documents
from tests.infra_stack import ACCOUNT, REGION, Stack, client, deploy

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
TABLES = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform()


@pytest.fixture(scope="module")
def stacks(cfn: dict[str, Any]) -> Iterator[dict[str, Stack]]:
    """Three deployments of the same template into one moto account.

    - `baton`: the CLI's default names, buckets to list, read and write, tables to scan and
      update, a KMS key, reserved concurrency 5, 2048 MB, an alarm topic, a budget;
    - `bare`: every parameter left at its default;
    - `killed`: reserved concurrency 0, the kill switch.
    """
    with warnings.catch_warnings(), mock_aws():
        # moto warns about each resource type it skips; infra_stack handles those.
        warnings.simplefilter("ignore", UserWarning)
        yield {
            "baton": deploy(
                cfn,
                "baton",
                {
                    "ListBuckets": "walk-me,walk-me-too",
                    "ReadBuckets": "read-me",
                    "WriteBuckets": "copy-here",
                    "ScanTableArns": f"{TABLES}users,{TABLES}orders",
                    "UpdateTableArns": f"{TABLES}users",
                    "KmsKeyArns": KMS_KEY,
                    "WorkerReservedConcurrency": "5",
                    "WorkerMemoryMB": "2048",
                    "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:baton-ops",
                    "MonthlyBudgetUsd": "50",
                    "BudgetEmail": "ops@example.com",
                },
            ),
            "bare": deploy(cfn, "bare", {}),
            "killed": deploy(cfn, "killed", {"WorkerReservedConcurrency": "0"}),
        }


@pytest.fixture(scope="module")
def stack(stacks: dict[str, Stack]) -> Stack:
    return stacks["baton"]


def role_documents(role_name: str) -> list[dict[str, Any]]:
    """Every policy a role has: its inline policies and the managed policies attached to it (the
    worker's grants on the user's buckets, tables and keys, one per list named)."""
    iam = client("iam")
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    return [
        *(
            _document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        ),
        *(managed_policy_document(policy["PolicyArn"]) for policy in attached),
    ]


def _document(raw: Any) -> dict[str, Any]:
    """A policy document as IAM returns it.

    moto hands back the inline policies of a role made by CloudFormation as the Python repr of
    a dict, not JSON: read that too.
    """
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = ast.literal_eval(raw)
    assert isinstance(parsed, dict)
    # CloudFormation drops a list element that resolves to AWS::NoValue (the bucket statements
    # when no bucket is named); moto leaves None in its place.
    if isinstance(parsed["Statement"], list):
        parsed["Statement"] = [x for x in parsed["Statement"] if x is not None]
    return parsed


def managed_policy_document(arn: str) -> dict[str, Any]:
    iam = client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
    return _document(document["Document"])


def function_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = client("lambda").get_function(FunctionName=name)["Configuration"]
    return config


def bucket_arn(stack: Stack) -> str:
    return f"arn:aws:s3:::{stack.physical['StateBucket']}"


def table_arn(stack: Stack) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{stack.physical['JobsTable']}"


def queue_arn(stack: Stack) -> str:
    url = stack.physical["FailedEvents"]
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rsplit('/', 1)[1]}"


def actions_anywhere(node: Any, key: str | None = None) -> Iterator[str]:
    """Every string under an Action or NotAction key of an Allow statement (a Deny with a
    wildcard only takes away), through Fn::If branches and lists."""
    if isinstance(node, dict):
        if node.get("Effect") == "Deny":
            return
        for k, v in node.items():
            yield from actions_anywhere(v, k if k in ("Action", "NotAction") else key)
    elif isinstance(node, list):
        for v in node:
            yield from actions_anywhere(v, key)
    elif isinstance(node, str) and key is not None:
        yield node


# ---------------------------------------------------------------------------- lint


def _lint(template: dict[str, Any]) -> list[str]:
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
    return [f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}" for m in matches]


def test_the_transform_lints_clean_and_catches_what_the_sam_lint_misses(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    assert _lint(sam) == []
    assert _lint(cfn) == []
    broken = copy.deepcopy(sam)
    broken["Resources"]["Worker"]["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"] = 7
    # cfn-lint validates SAM resources against SAM's schema, which lets this through...
    assert _lint(broken) == []
    # ...and the transform turns it into a Lambda property whose limit cfn-lint knows.
    errors = _lint(transform(broken))
    assert any(
        "WorkerEventInvokeConfig/Properties/MaximumRetryAttempts" in e and "7" in e for e in errors
    ), errors


def test_make_lint_runs_cfn_lint_on_the_template_and_its_transform() -> None:
    dry = subprocess.run(
        ["make", "-n", "lint"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"cfn-lint infra/template\.yaml", dry)
    assert re.search(r"-m infra\.sam transform --out (\S+)", dry)
    out = re.search(r"-m infra\.sam transform --out (\S+)", dry)
    assert out and f"cfn-lint {out.group(1)}" in dry


def test_sam_cli_venv_is_made_only_by_deploy() -> None:
    for target in ("lint", "test", "package"):
        dry = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        assert ".venv-sam" not in dry, target
    dry = subprocess.run(
        ["make", "-n", "-B", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert ".venv-sam/bin/python -m pip install" in dry
    # make deploy wraps `baton deploy` (guided while no baton-deploy.toml), the SAM CLI on PATH.
    assert re.search(r"\.venv-sam/bin:\$PATH\S* \.venv/bin/baton deploy", dry), dry


# ---------------------------------------------------------------------------- every resource


def _exists(stack: Stack, logical: str) -> bool:
    kind = stack.resources[logical]["Type"]
    physical = stack.physical[logical]
    if kind == "AWS::DynamoDB::Table":
        return client("dynamodb").describe_table(TableName=physical)["Table"]["TableStatus"] == (
            "ACTIVE"
        )
    if kind == "AWS::S3::Bucket":
        client("s3").head_bucket(Bucket=physical)
        return True
    if kind == "AWS::SQS::Queue":
        return bool(
            client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])[
                "Attributes"
            ]
        )
    if kind == "AWS::Logs::LogGroup":
        groups = client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
        return [g["logGroupName"] for g in groups] == [physical]
    if kind == "AWS::IAM::Role":
        return client("iam").get_role(RoleName=physical)["Role"]["RoleName"] == physical
    if kind == "AWS::IAM::ManagedPolicy":
        return client("iam").get_policy(PolicyArn=physical)["Policy"]["Arn"] == physical
    if kind == "AWS::Lambda::Function":
        return function_config(physical)["State"] == "Active"
    if kind == "AWS::Events::Rule":
        return client("events").describe_rule(Name=physical)["State"] == "ENABLED"
    if kind == "AWS::Lambda::Permission":
        props = {
            key: stack.resolve(value)
            for key, value in stack.resources[logical]["Properties"].items()
            if key in ("FunctionName", "Principal", "Action")
        }
        policy = json.loads(
            client("lambda").get_policy(FunctionName=props["FunctionName"])["Policy"]
        )
        return any(
            s["Principal"] == {"Service": props["Principal"]} and s["Action"] == props["Action"]
            for s in policy["Statement"]
        )
    if kind == "AWS::CloudWatch::Alarm":
        return len(client("cloudwatch").describe_alarms(AlarmNames=[physical])["MetricAlarms"]) == 1
    if kind == "AWS::CloudWatch::Dashboard":
        body = client("cloudwatch").get_dashboard(DashboardName=physical)["DashboardBody"]
        return bool(json.loads(body)["widgets"])
    if kind == "AWS::S3::BucketPolicy":
        bucket = stack.physical["StateBucket"]
        return bool(json.loads(client("s3").get_bucket_policy(Bucket=bucket)["Policy"]))
    if kind == "AWS::Budgets::Budget":
        budget = client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName=physical)
        return bool(budget["Budget"]["BudgetName"] == physical)
    if kind == "AWS::Lambda::EventInvokeConfig":
        name, qualifier = physical.rsplit(":", 1)
        config = client("lambda").get_function_event_invoke_config(
            FunctionName=name, Qualifier=qualifier
        )
        return bool(config["FunctionArn"])
    raise AssertionError(f"no existence check for {kind}: add one")


@pytest.mark.parametrize("name", ["baton", "bare", "killed"])
def test_every_resource_of_the_template_is_created(
    stacks: dict[str, Stack], cfn: dict[str, Any], name: str
) -> None:
    stack = stacks[name]
    assert set(stack.physical) == stack.present()
    assert all(_exists(stack, logical) for logical in stack.present())
    optional = {"MonthlyBudget"} | {
        k for k in cfn["Resources"] if k.startswith("Worker") and k.endswith("Policy")
    }
    assert set(cfn["Resources"]) - stack.present() <= optional
    kinds = {r["Type"] for r in cfn["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Events::Rule",
    } <= kinds


def test_outputs_give_the_cli_its_environment(stack: Stack) -> None:
    env = dict(pair.split("=", 1) for pair in stack.outputs["BatonEnvironment"].split())
    assert env == {
        "BATON_FUNCTION": "baton-worker",
        "BATON_TABLE": "baton-jobs",
        "BATON_STATE_BUCKET": stack.physical["StateBucket"],
        "BATON_FAILED_EVENTS_QUEUE": stack.physical["FailedEvents"],
        "BATON_RESERVED_CONCURRENCY": "5",
        "AWS_REGION": REGION,
    }
    # With the stack named "baton", the names are the CLI's defaults.
    assert env["BATON_TABLE"] == DEFAULT_TABLE
    assert env["BATON_FUNCTION"] == RelaySettings().function_name


# ---------------------------------------------------------------------------- the table


def _model_table() -> dict[str, Any]:
    """What the pynamodb model declares, in CloudFormation's terms; read from the class."""
    schema = JobModel._get_schema()
    (ttl,) = [
        a.attr_name for a in JobModel.get_attributes().values() if isinstance(a, TTLAttribute)
    ]
    return {
        "KeySchema": sorted((k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]),
        "AttributeDefinitions": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
        ),
        "GlobalSecondaryIndexes": {
            index["index_name"]: {
                "KeySchema": sorted(
                    (k["AttributeName"], k["KeyType"]) for k in index["key_schema"]
                ),
                "ProjectionType": index["projection"]["ProjectionType"],
                "NonKeyAttributes": sorted(index["projection"].get("NonKeyAttributes", [])),
            }
            for index in schema["global_secondary_indexes"]
        },
        "LocalSecondaryIndexes": schema["local_secondary_indexes"],
        "BillingMode": JobModel.Meta.billing_mode,
        "TTL": ttl,
    }


def _declared_table(props: dict[str, Any]) -> dict[str, Any]:
    """The same shape read from the template's (or DescribeTable's) table properties."""
    ttl = props.get("TimeToLiveSpecification", {})
    return {
        "KeySchema": sorted((k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]),
        "AttributeDefinitions": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]
        ),
        "GlobalSecondaryIndexes": {
            index["IndexName"]: {
                "KeySchema": sorted((k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]),
                "ProjectionType": index["Projection"]["ProjectionType"],
                "NonKeyAttributes": sorted(index["Projection"].get("NonKeyAttributes", [])),
            }
            for index in props.get("GlobalSecondaryIndexes", [])
        },
        "LocalSecondaryIndexes": props.get("LocalSecondaryIndexes", []),
        "BillingMode": props.get(
            "BillingMode", props.get("BillingModeSummary", {}).get("BillingMode")
        ),
        "TTL": ttl.get("AttributeName") if ttl.get("Enabled") else None,
    }


def table_drift(props: dict[str, Any]) -> list[str]:
    model, declared = _model_table(), _declared_table(props)
    return [
        f"{key}: model {model[key]!r} != template {declared[key]!r}"
        for key in model
        if model[key] != declared[key]
    ]


def test_the_template_table_matches_the_pynamodb_model(sam: dict[str, Any]) -> None:
    props = sam["Resources"]["JobsTable"]["Properties"]
    assert table_drift(props) == []
    assert BY_STATUS_INDEX in _model_table()["GlobalSecondaryIndexes"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Encrypted at rest with DynamoDB's AWS owned key (no SSESpecification): SSEEnabled true would
    # move it to the AWS managed KMS key, billed per request.
    assert "SSESpecification" not in props
    assert props["TableName"] == {"Fn::Sub": "${AWS::StackName}-jobs"}
    assert sam["Resources"]["JobsTable"]["DeletionPolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    assert sam["Parameters"]["TableDeletionProtection"]["Default"] == "true"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["GlobalSecondaryIndexes"][0]["Projection"]["NonKeyAttributes"].pop(),
        lambda p: p["GlobalSecondaryIndexes"][0]["KeySchema"].pop(),
        lambda p: p["GlobalSecondaryIndexes"][0].update(IndexName="by-state"),
        lambda p: p["AttributeDefinitions"][0].update(AttributeType="N"),
        lambda p: p["TimeToLiveSpecification"].update(AttributeName="ttl"),
        lambda p: p.update(BillingMode="PROVISIONED"),
    ],
    ids=["projection", "index-key", "index-name", "key-type", "ttl", "billing"],
)
def test_table_drift_is_detected(sam: dict[str, Any], mutate: Any) -> None:
    props = copy.deepcopy(sam["Resources"]["JobsTable"]["Properties"])
    mutate(props)
    assert table_drift(props) != []


def test_the_deployed_table_matches_the_model(stack: Stack) -> None:
    described = client("dynamodb").describe_table(TableName=stack.physical["JobsTable"])["Table"]
    assert (
        table_drift(
            {
                **described,
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            }
        )
        == []
    )
    # moto ignores TTL and point-in-time recovery from a template: those are asserted above.


# ---------------------------------------------------------------------------- the worker


def test_worker_runs_the_handler_on_arm64_with_recursion_allowed(
    sam: dict[str, Any], cfn: dict[str, Any], stack: Stack
) -> None:
    function = sam["Globals"]["Function"]
    assert function["Runtime"] in ("python3.12", "python3.13")
    assert function["Architectures"] == ["arm64"]
    worker = cfn["Resources"]["Worker"]["Properties"]
    assert worker["RecursiveLoop"] == "Allow"
    assert worker["Architectures"] == ["arm64"]
    assert sam["Parameters"]["WorkerTimeoutSeconds"]["Default"] == 900
    assert sam["Parameters"]["WorkerTimeoutSeconds"]["MaxValue"] == 900
    deployed = function_config("baton-worker")
    assert deployed["Handler"] == "baton.handler.app.lambda_handler"
    assert deployed["Runtime"] == function["Runtime"]
    assert deployed["Timeout"] == 900
    assert deployed["MemorySize"] == 2048
    assert deployed["Role"].endswith(f"/{stack.physical['WorkerRole']}")
    watchdog = function_config("baton-watchdog")
    assert watchdog["Handler"] == "baton.handler.watchdog.lambda_handler"


def test_reserved_concurrency_is_on_by_default_and_zero_is_the_kill_switch(
    sam: dict[str, Any], stacks: dict[str, Stack]
) -> None:
    def reserved(function: str) -> Any:
        reply = client("lambda").get_function_concurrency(FunctionName=function)
        return reply.get("ReservedConcurrentExecutions")

    assert sam["Parameters"]["WorkerReservedConcurrency"]["Default"] == 10
    assert sam["Parameters"]["WorkerReservedConcurrency"]["MinValue"] == 0
    assert reserved("baton-worker") == 5
    assert reserved("bare-worker") == 10
    assert reserved("killed-worker") == 0
    assert reserved("bare-watchdog") == 1  # one sweep at a time
    # The worker knows its cap, so a fan-out starts no more shards than can run.
    for name, cap in (("baton", "5"), ("bare", "10"), ("killed", "0")):
        env = function_config(f"{name}-worker")["Environment"]["Variables"]
        assert str(env["BATON_RESERVED_CONCURRENCY"]) == cap


def test_async_retries_and_on_failure_destination(
    sam: dict[str, Any], cfn: dict[str, Any], stack: Stack
) -> None:
    config = sam["Resources"]["Worker"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["FailedEvents", "Arn"]},
    }
    assert cfn["Resources"]["FailedEvents"]["Type"] == "AWS::SQS::Queue"
    transformed = cfn["Resources"]["WorkerEventInvokeConfig"]["Properties"]
    assert transformed["FunctionName"] == {"Ref": "Worker"}
    assert transformed["MaximumRetryAttempts"] == 2
    # Resolved against the deployed stack, the destination is the real queue, and the worker's
    # role may send to it (Lambda sends with the function's role).
    deployed = client("lambda").get_function_event_invoke_config(FunctionName="baton-worker")
    assert deployed["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn(stack)
    assert allows(role_documents(stack.physical["WorkerRole"]), "sqs:SendMessage", queue_arn(stack))


def test_worker_environment_configures_the_code(stacks: dict[str, Stack]) -> None:
    for name, stack in stacks.items():
        env = {
            k: str(v)
            for k, v in function_config(f"{name}-worker")["Environment"]["Variables"].items()
        }
        assert {
            "BATON_TABLE",
            "BATON_STATE_BUCKET",
            "BATON_ACTION_MODULES",
            "BATON_MIN_MARGIN_MS",
            "BATON_CHECKPOINT_S",
        } <= set(env)
        assert env["POWERTOOLS_SERVICE_NAME"] == "baton"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Baton"
        store = StoreSettings.from_env(env)
        relay = RelaySettings.from_env(env)
        assert store.table == stack.physical["JobsTable"]
        assert store.state_bucket == stack.physical["StateBucket"]
        assert relay.function_name == f"{name}-worker"
        assert relay.min_margin_ms == 10_000
        assert relay.checkpoint_s == 10
        assert relay.action_modules == ()
        watchdog = {
            k: str(v)
            for k, v in function_config(f"{name}-watchdog")["Environment"]["Variables"].items()
        }
        assert StoreSettings.from_env(watchdog).table == stack.physical["JobsTable"]
        assert RelaySettings.from_env(watchdog).function_name == f"{name}-worker"


# ---------------------------------------------------------------------------- least privilege


def test_no_statement_has_a_star_action_anywhere(
    sam: dict[str, Any], cfn: dict[str, Any], stacks: dict[str, Stack]
) -> None:
    template_actions = list(actions_anywhere(cfn))
    assert "lambda:InvokeFunction" in template_actions
    assert [a for a in template_actions if "*" in a or "?" in a] == []
    assert [a for a in actions_anywhere(sam) if "*" in a or "?" in a] == []
    for stack in stacks.values():
        documents = [
            *role_documents(stack.physical["WorkerRole"]),
            *role_documents(stack.physical["WatchdogRole"]),
            managed_policy_document(stack.physical["OperatorPolicy"]),
        ]
        deployed = [action for action, _ in grants(documents)]
        assert deployed and [a for a in deployed if "*" in a or "?" in a] == []
    # Every role is one of ours: nothing from SAM's default role and its managed policy. The
    # only managed policies are the template's own (the operators' and the worker's per-list
    # grants), none of AWS's.
    roles = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 2
    assert all("ManagedPolicyArns" not in r["Properties"] for r in roles)
    for stack in stacks.values():
        for role in ("WorkerRole", "WatchdogRole"):
            iam = client("iam")
            attached = iam.list_attached_role_policies(RoleName=stack.physical[role])
            assert all(":aws:policy/" not in p["PolicyArn"] for p in attached["AttachedPolicies"])
    assert len(list(policy_documents(cfn))) >= 3
    # The one Deny: the state bucket's refusal of plain HTTP.
    denies = [
        s
        for d in policy_documents(cfn)
        for s in d["Statement"]
        if isinstance(s, dict) and s.get("Effect") == "Deny"
    ]
    assert [s["Sid"] for s in denies] == ["TlsOnly"]


def test_worker_may_invoke_itself_and_nothing_broader(stack: Stack) -> None:
    documents = role_documents(stack.physical["WorkerRole"])
    worker = function_config("baton-worker")["FunctionArn"]
    assert worker == f"{LAMBDA_ARN}baton-worker"
    lambda_grants = {(a, r) for a, r in grants(documents) if a.lower().startswith("lambda:")}
    assert lambda_grants == {
        ("lambda:InvokeFunction", worker),
        ("lambda:InvokeFunction", f"{worker}:*"),
    }
    assert allows(documents, "lambda:InvokeFunction", worker)
    assert allows(documents, "lambda:InvokeFunction", f"{worker}:live")  # alias
    assert allows(documents, "lambda:InvokeFunction", f"{worker}:7")  # version
    for other in ("baton-watchdog", "baton-worker-2", "bare-worker", "killed-worker"):
        assert not allows(documents, "lambda:InvokeFunction", f"{LAMBDA_ARN}{other}")
    for action in (
        "lambda:UpdateFunctionCode",
        "lambda:PutFunctionConcurrency",
        "lambda:InvokeAsync",
    ):
        assert not allows(documents, action, worker)


def test_worker_uses_its_table_and_only_the_tables_named(stack: Stack) -> None:
    documents = role_documents(stack.physical["WorkerRole"])
    table = table_arn(stack)
    # ConditionCheckItem: a shard is created in one transaction with a check on its parent.
    for action in ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem"):
        assert allows(documents, f"dynamodb:{action}", table)
    # The worker never lists jobs (the watchdog and the CLI do): no Query anywhere.
    assert not allows(documents, "dynamodb:Query", f"{table}/index/{BY_STATUS_INDEX}")
    for action in ("Query", "Scan", "DeleteItem", "DeleteTable", "UpdateTable", "BatchWriteItem"):
        assert not allows(documents, f"dynamodb:{action}", table)
    other = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/bare-jobs"
    assert not allows(documents, "dynamodb:GetItem", other)
    # ScanTableArns: scan (table and indexes) and describe; UpdateTableArns: update items.
    for name in ("users", "orders"):
        assert allows(documents, "dynamodb:Scan", f"{TABLES}{name}")
        assert allows(documents, "dynamodb:Scan", f"{TABLES}{name}/index/by-day")
        assert allows(documents, "dynamodb:DescribeTable", f"{TABLES}{name}")
        assert not allows(documents, "dynamodb:PutItem", f"{TABLES}{name}")
        assert not allows(documents, "dynamodb:DeleteItem", f"{TABLES}{name}")
    assert allows(documents, "dynamodb:UpdateItem", f"{TABLES}users")
    assert not allows(documents, "dynamodb:UpdateItem", f"{TABLES}orders")
    assert not allows(documents, "dynamodb:Scan", f"{TABLES}users-2")
    assert not allows(documents, "dynamodb:Scan", table)


def test_worker_reads_and_writes_only_the_state_bucket_and_named_buckets(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["baton"]
    documents = role_documents(stack.physical["WorkerRole"])
    state = bucket_arn(stack)
    allowed = [
        ("s3:ListBucket", state),
        ("s3:PutObject", f"{state}/{STATE_PREFIX}job-1/0000000007-a1b2c3.json.zz"),
        ("s3:GetObject", f"{state}/{STATE_PREFIX}job-1/0000000007-a1b2c3.json.zz"),
        ("s3:DeleteObject", f"{state}/{STATE_PREFIX}job-1/0000000006-d4e5f6.json.zz"),
        ("s3:PutObject", f"{state}/{REPORT_PREFIX}job-1/0000000009.jsonl"),
        ("s3:ListBucket", "arn:aws:s3:::walk-me"),
        ("s3:ListBucket", "arn:aws:s3:::walk-me-too"),
        ("s3:ListBucket", "arn:aws:s3:::read-me"),
        ("s3:GetObject", "arn:aws:s3:::read-me/logs/a.gz"),
        ("s3:ListBucket", "arn:aws:s3:::copy-here"),
        ("s3:GetObject", "arn:aws:s3:::copy-here/logs/a.gz"),
        ("s3:PutObject", "arn:aws:s3:::copy-here/logs/a.gz"),
        ("s3:PutObjectTagging", "arn:aws:s3:::copy-here/logs/a.gz"),
    ]
    denied = [
        ("s3:GetObject", "arn:aws:s3:::walk-me/logs/a.gz"),  # list-only bucket
        ("s3:GetObjectTagging", "arn:aws:s3:::walk-me/logs/a.gz"),
        ("s3:PutObject", "arn:aws:s3:::read-me/logs/a.gz"),  # read-only bucket
        ("s3:GetObjectTagging", "arn:aws:s3:::read-me/logs/a.gz"),
        ("s3:DeleteObject", "arn:aws:s3:::copy-here/logs/a.gz"),
        ("s3:ListBucket", "arn:aws:s3:::walk-me-3"),  # no prefix match on names
        ("s3:GetObject", "arn:aws:s3:::read-me-2/x"),
        ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/x"),
        ("s3:PutObject", f"{state}/elsewhere/x"),
        ("s3:GetObject", f"{state}/{REPORT_PREFIX}job-1/0000000009.jsonl"),  # reports: write only
        ("s3:DeleteObject", f"{state}/{REPORT_PREFIX}job-1/0000000009.jsonl"),
        ("s3:DeleteBucket", state),
        ("s3:PutBucketPolicy", state),
        ("s3:ListAllMyBuckets", "*"),
    ]
    assert [p for p in allowed if not allows(documents, *p)] == []
    assert [p for p in denied if allows(documents, *p)] == []
    # With no bucket parameters, only the state bucket.
    bare = stacks["bare"]
    bare_documents = role_documents(bare.physical["WorkerRole"])
    s3_resources = {r for a, r in grants(bare_documents) if a.startswith("s3:")}
    assert s3_resources == {
        bucket_arn(bare),
        f"{bucket_arn(bare)}/{STATE_PREFIX}*",
        f"{bucket_arn(bare)}/{REPORT_PREFIX}*",
    }
    assert not any(a.startswith(("kms:", "dynamodb:Scan")) for a, _ in grants(bare_documents))


def test_kms_keys_are_usable_through_s3_only(stack: Stack) -> None:
    documents = role_documents(stack.physical["WorkerRole"])
    via_s3 = {"aws:SecureTransport": "true", "kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    direct = {"aws:SecureTransport": "true"}
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert allows(documents, action, KMS_KEY, context=via_s3)
        assert not allows(documents, action, KMS_KEY, context=direct)
        assert not allows(
            documents, action, KMS_KEY.replace("1234abcd", "99999999"), context=via_s3
        )
    assert not allows(documents, "kms:Encrypt", KMS_KEY, context=via_s3)


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("ListBuckets", ["", "walk-me", "a.b-c"], ["*", "walk-*", "Walk", "a", "arn:aws:s3:::x"]),
        ("ReadBuckets", ["", "read-me"], ["*", "read-me/*", "read?me"]),
        ("WriteBuckets", ["", "copy-here"], ["*", "copy*"]),
        ("ScanTableArns", ["", f"{TABLES}users"], ["*", f"{TABLES}*", "users", f"{TABLES}u*"]),
        ("UpdateTableArns", ["", f"{TABLES}users"], ["*", f"{TABLES}*"]),
        ("KmsKeyArns", ["", KMS_KEY], ["*", KMS_KEY.rsplit("/", 1)[0] + "/*", "alias/x"]),
    ],
)
def test_user_data_parameters_refuse_wildcards(
    sam: dict[str, Any], parameter: str, good: list[str], bad: list[str]
) -> None:
    spec = sam["Parameters"][parameter]
    assert spec["Type"] == "CommaDelimitedList"  # CloudFormation matches each element
    pattern = re.compile(spec["AllowedPattern"])
    assert [v for v in good if not pattern.fullmatch(v)] == []
    assert [v for v in bad if pattern.fullmatch(v)] == []


def test_bucket_statements_name_each_bucket_in_every_partition(sam: dict[str, Any]) -> None:
    # The partition is spelled out per branch (Fn::Join takes no function as delimiter): check
    # every branch names the same partition throughout.
    text = json.dumps(
        [r for k, r in sam["Resources"].items() if k.startswith("Worker") and "Buckets" in k]
    )
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        assert f'"arn:{partition}:s3:::"' in text
        assert f'",arn:{partition}:s3:::"' in text
        assert f'"/*,arn:{partition}:s3:::"' in text
    assert sam["Conditions"]["InChina"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}


def test_watchdog_queries_the_index_updates_jobs_and_invokes_the_worker(stack: Stack) -> None:
    documents = role_documents(stack.physical["WatchdogRole"])
    table = table_arn(stack)
    worker = f"{LAMBDA_ARN}baton-worker"
    assert allows(documents, "dynamodb:Query", f"{table}/index/{BY_STATUS_INDEX}")
    assert allows(documents, "dynamodb:UpdateItem", table)
    assert allows(documents, "dynamodb:GetItem", table)
    assert allows(documents, "lambda:InvokeFunction", worker)
    # It invokes BATON_FUNCTION, the unqualified name, and nothing else.
    assert not allows(documents, "lambda:InvokeFunction", f"{worker}:live")
    assert not allows(documents, "lambda:InvokeFunction", f"{LAMBDA_ARN}baton-watchdog")
    assert not allows(documents, "dynamodb:PutItem", table)
    assert not allows(documents, "dynamodb:Scan", table)
    assert not any(a.startswith("s3:") for a, _ in grants(documents))
    assert allows(
        documents,
        "logs:PutLogEvents",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/baton-watchdog:log-stream:x",
    )
    assert not allows(
        documents,
        "logs:PutLogEvents",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/baton-worker:log-stream:x",
    )


def test_operator_policy_covers_the_cli_and_the_kill_switch(stack: Stack) -> None:
    documents = [managed_policy_document(stack.physical["OperatorPolicy"])]
    worker = f"{LAMBDA_ARN}baton-worker"
    for action in ("InvokeFunction", "PutFunctionConcurrency", "DeleteFunctionConcurrency"):
        assert allows(documents, f"lambda:{action}", worker)
        assert not allows(documents, f"lambda:{action}", f"{LAMBDA_ARN}baton-watchdog")
    assert allows(documents, "dynamodb:Query", f"{table_arn(stack)}/index/{BY_STATUS_INDEX}")
    assert allows(documents, "dynamodb:BatchGetItem", table_arn(stack))  # baton status PARENT
    assert not allows(documents, "dynamodb:Query", table_arn(stack))
    assert allows(
        documents, "s3:GetObject", f"{bucket_arn(stack)}/{REPORT_PREFIX}job-1/0000000009.jsonl"
    )
    assert not allows(documents, "s3:PutObject", f"{bucket_arn(stack)}/{STATE_PREFIX}job-1/1")
    # The failed-events runbook: read, release, delete, purge the on-failure queue, nothing else.
    queue = queue_arn(stack)
    for action in ("ReceiveMessage", "ChangeMessageVisibility", "DeleteMessage", "PurgeQueue"):
        assert allows(documents, f"sqs:{action}", queue)
        assert not allows(documents, f"sqs:{action}", queue_arn(stack) + "-2")
    assert not allows(documents, "sqs:SendMessage", queue)
    assert not allows(documents, "sqs:DeleteQueue", queue)


# ---------------------------------------------------------------------------- schedule, alarms


def test_watchdog_runs_on_a_schedule(sam: dict[str, Any], stack: Stack) -> None:
    assert sam["Parameters"]["WatchdogSchedule"]["Default"] == "rate(5 minutes)"
    events = client("events")
    rule = events.describe_rule(Name=stack.physical["WatchdogSweep"])
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = events.list_targets_by_rule(Rule=stack.physical["WatchdogSweep"])["Targets"]
    assert target["Arn"] == f"{LAMBDA_ARN}baton-watchdog"


def _alarms(stack: Stack) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (a["Namespace"], a["MetricName"], ",".join(d["Value"] for d in a["Dimensions"])): a
        for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack.name}-")[
            "MetricAlarms"
        ]
    }


def test_alarms_watch_failures_spend_and_throttles(stacks: dict[str, Stack]) -> None:
    stack = stacks["baton"]
    alarms = _alarms(stack)
    queue_name = stack.physical["FailedEvents"].rsplit("/", 1)[1]
    at_least_one = [
        ("AWS/Lambda", "Errors", "baton-worker"),
        ("AWS/Lambda", "Errors", "baton-watchdog"),
        # Messages sent, not visible: one notification per failure, even while older messages
        # wait in the queue.
        ("AWS/SQS", "NumberOfMessagesSent", queue_name),
        ("AWS/Lambda", "DestinationDeliveryFailures", "baton-worker"),
        ("AWS/Lambda", "RecursiveInvocationsDropped", "baton-worker"),
        ("AWS/Lambda", "AsyncEventsDropped", "baton-worker"),
        ("Baton", "JobsFailed", "baton"),
        ("Baton", "WatchdogFailed", "baton"),
        ("AWS/DynamoDB", "WriteThrottleEvents", "baton-jobs"),
        ("AWS/DynamoDB", "WriteThrottleEvents", f"baton-jobs,{BY_STATUS_INDEX}"),
    ]
    for key in at_least_one:
        assert key in alarms, sorted(alarms)
        alarm = alarms[key]
        assert (alarm["Threshold"], alarm["Statistic"]) == (1, "Sum"), key
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:baton-ops"]
    invocations = alarms[("AWS/Lambda", "Invocations", "baton-worker")]
    assert (invocations["Period"], invocations["Threshold"]) == (3600, 2000)
    # A watchdog that stops running is missed invocations, not errors: missing data breaches.
    heartbeat = alarms[("AWS/Lambda", "Invocations", "baton-watchdog")]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold"
    age = alarms[("AWS/Lambda", "AsyncEventAge", "baton-worker")]
    assert (age["Statistic"], age["Threshold"]) == ("Maximum", 1_800_000)
    assert len(alarms) == len(at_least_one) + 3
    # Saturation is normal (a full fan-out runs at the reserved concurrency, hand-offs are
    # throttled and retried): no alarm on concurrency or throttles themselves.
    assert not [k for k in alarms if k[1] in ("ConcurrentExecutions", "Throttles")]
    # Without a topic the alarms change state only.
    assert all(a.get("AlarmActions", []) == [] for a in _alarms(stacks["bare"]).values())


def test_the_alarms_and_the_runbook_are_documented(cfn: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    alarms = [k for k, r in cfn["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert [a for a in alarms if f"`{a}`" not in doc] == []
    for command in (
        "baton failed-events list",
        "baton failed-events resume",
        "WorkerReservedConcurrency",
    ):
        assert command in doc


def test_an_optional_budget_notifies_by_email(
    sam: dict[str, Any], stacks: dict[str, Stack]
) -> None:
    budget = client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName="baton-monthly")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": "50.0", "Unit": "USD"} or (
        float(budget["Budget"]["BudgetLimit"]["Amount"]) == 50
    )
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    notifications = client("budgets").describe_notifications_for_budget(
        AccountId=ACCOUNT, BudgetName="baton-monthly"
    )["Notifications"]
    assert {n["NotificationType"] for n in notifications} == {"ACTUAL", "FORECASTED"}
    assert sam["Parameters"]["MonthlyBudgetUsd"]["Default"] == 0
    assert "MonthlyBudget" not in stacks["bare"].present()


# ---------------------------------------------------------------------------- the state bucket


def test_state_bucket_is_private_encrypted_and_cleans_superseded_state(
    sam: dict[str, Any], stack: Stack
) -> None:
    encryption = client("s3").get_bucket_encryption(Bucket=stack.physical["StateBucket"])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # moto ignores these from a template: assert them there.
    props = sam["Resources"]["StateBucket"]["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    # One rule per prefix, the prefixes disjoint: no two rules overlap.
    prefixes = [r["Prefix"] for r in rules.values()]
    assert sorted(prefixes) == sorted([STATE_PREFIX, REPORT_PREFIX])
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    state = rules["state"]
    assert state["Status"] == "Enabled"
    assert state["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "SupersededStateDays"}
    }
    # Expiring current state objects is off by default: a long-paused job's state must not
    # expire under it. S3 refuses ExpiredObjectDeleteMarker beside an expiration in days.
    assert state["ExpirationInDays"] == {
        "Fn::If": ["HasStateExpiration", {"Ref": "StateExpirationDays"}, {"Ref": "AWS::NoValue"}]
    }
    assert state["ExpiredObjectDeleteMarker"] == {
        "Fn::If": ["HasStateExpiration", {"Ref": "AWS::NoValue"}, True]
    }
    assert sam["Parameters"]["StateExpirationDays"]["Default"] == 0
    assert not stack.condition("HasStateExpiration")
    # Reports expire, after the job item that points to them (JobRetentionDays) is gone.
    reports = rules["reports"]
    assert reports["ExpirationInDays"] == {"Ref": "ReportExpirationDays"}
    params = sam["Parameters"]
    assert params["ReportExpirationDays"]["Default"] >= params["JobRetentionDays"]["Default"]


def test_state_bucket_refuses_requests_without_tls(stack: Stack) -> None:
    bucket = stack.physical["StateBucket"]
    policy = json.loads(client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    worker = role_documents(stack.physical["WorkerRole"])
    key = f"{bucket_arn(stack)}/{STATE_PREFIX}job-1/1.json.zz"
    tls, plain = {"aws:SecureTransport": "true"}, {"aws:SecureTransport": "false"}
    assert allows(worker, "s3:GetObject", key, resource_policies=[policy], context=tls)
    for action, resource in (("s3:GetObject", key), ("s3:ListBucket", bucket_arn(stack))):
        assert not allows(worker, action, resource, resource_policies=[policy], context=plain)


# ---------------------------------------------------------------------------- the package


def test_package_targets_the_template_runtime_and_architecture(sam: dict[str, Any]) -> None:
    target = lambda_package.lambda_target()
    assert f"python{target.python_version}" == sam["Globals"]["Function"]["Runtime"]
    assert [target.architecture] == sam["Globals"]["Function"]["Architectures"]
    code_uri = (ROOT / "infra" / sam["Globals"]["Function"]["CodeUri"]).resolve()
    assert code_uri == (lambda_package.DEFAULT_OUT / lambda_package.ZIP_NAME).resolve()
    assert PLACEHOLDER_CODE_URI.startswith("s3://")
    requirements = {
        lambda_package._requirement_name(r) for r in lambda_package.runtime_requirements()
    }
    assert {"boto3", "pynamodb", "aws-lambda-powertools"} <= requirements
    assert not requirements & {"typer", "rich", "moto", "pytest"}


def test_user_code_may_not_replace_batons_own_packages(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "baton").mkdir(parents=True)
    (code / "baton" / "__init__.py").write_text("", encoding="utf-8")
    tree = tmp_path / "tree"
    tree.mkdir()
    with pytest.raises(SystemExit, match="would replace baton's own 'baton'"):
        lambda_package._add_user_code(tree, [code], [])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """One package for the module, built and imported in a fresh venv once (about 30 s each).

    It is what `make package USER_CODE=examples/primes USER_MODULES=primes_task` makes: baton's
    code, its runtime dependencies and the user's module, so the checks on what `make deploy`
    ships and on the user's code hold on the same build. Returns the manifest and what the
    check in the fresh venv saw.
    """
    out = tmp_path_factory.mktemp("package")
    manifest = lambda_package.build(out, [ROOT / "examples" / "primes"], None, ("primes_task",))
    return manifest, lambda_package.verify(out)


def test_user_code_is_packaged_and_its_modules_imported_by_the_check(
    built: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """`make package USER_CODE=examples/primes USER_MODULES=primes_task`, proven the same way."""
    manifest, seen = built
    with zipfile.ZipFile(manifest["zip"]) as zf:
        names = set(zf.namelist())
    assert "primes_task.py" in names
    assert "test_primes.py" not in names, "the user's tests stay out"
    assert manifest["user_code"] == [f"copied {ROOT / 'examples' / 'primes'}"]
    assert manifest["user_modules"] == ["primes_task"]
    assert seen["user_modules"] == ["primes_task"]
    assert seen["outcome"] == "rejected"


def test_package_builds_and_imports_in_a_fresh_venv(
    built: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """The package `make deploy` ships: code and runtime deps only (and the user's module, a
    top-level file of its own), importable on its own."""
    manifest, seen = built
    print("\n" + lambda_package.report(manifest))
    archive = Path(manifest["zip"])
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"baton", "boto3", "botocore", "pynamodb", "aws_lambda_powertools"} <= tops
    # baton is a namespace holding the two packages the functions run, nothing else.
    assert "baton/handler/app.py" in names and "baton/store/job_store.py" in names
    assert "baton/__init__.py" not in names
    # The task packages whole: baton's own tasks are imported from builtin/ at a worker's start.
    for module in ("framework/catalog", "kit/shards", "builtin/s3_walk", "builtin/dynamodb_scan"):
        assert f"baton/handler/tasks/{module}.py" in names, module
    assert {n.split("/")[1] for n in names if n.startswith("baton/")} == {"handler", "store"}
    assert "pydantic" in tops  # handler/event.py parses events with pydantic
    for unwanted in (
        "cli",
        "local",
        "tests",
        "infra",
        "typer",
        "rich",
        "moto",
        "pytest",
        "mypy",
        "ruff",
        "cfnlint",
        "samtranslator",
        "hypothesis",
        "bin",
    ):
        assert unwanted not in tops, unwanted
    # Compiled code is for the target: Linux arm64, the runtime's CPython.
    target = lambda_package.lambda_target()
    tag = target.python_version.replace(".", "")
    # Bytecode for the runtime's Python only (when this machine has one), never another's.
    pycs = [n for n in names if n.endswith(".pyc")]
    assert all(n.endswith(f".cpython-{tag}.pyc") and "__pycache__/" in n for n in pycs), pycs[:5]
    if lambda_package.find_python(target.python_version)[1]:
        assert manifest["bytecode"] == target.python_version
        assert f"baton/handler/__pycache__/app.cpython-{tag}.pyc" in names
        assert f"botocore/__pycache__/client.cpython-{tag}.pyc" in names
    else:
        pytest.fail("the build should have refused to ship without bytecode")
    compiled = [n for n in names if n.endswith(".so")]
    assert compiled, "pydantic-core ships compiled code; none found"
    assert all(f"cpython-{tag}-aarch64-linux-gnu" in n for n in compiled), compiled
    assert manifest["zip_bytes"] < 50 * 1024 * 1024
    assert manifest["unzipped_bytes"] < 250 * 1024 * 1024
    # The same versions the tests run with.
    import pydantic
    import pynamodb

    assert manifest["distributions"]["pydantic"]["version"] == pydantic.VERSION
    assert manifest["distributions"]["pynamodb"]["version"] == pynamodb.__version__

    assert seen["outcome"] == "rejected"
    assert seen["import_ms"] > 0 and seen["import_ms_without_bytecode"] > 0
    modules = [p for pkg in ("handler", "store") for p in (ROOT / pkg).rglob("*.py")]
    assert seen["modules"] == len(modules) + len(seen["user_modules"])
    print(
        f"imported {seen['modules']} modules with Python {seen['python']} "
        f"(runtime version matched: {seen['runtime_version_matched']})"
    )


def test_a_build_without_a_python_of_the_runtimes_version_stops_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shipping sources only makes every cold start compile them: not silently."""
    monkeypatch.setattr(
        lambda_package,
        "lambda_target",
        lambda: lambda_package.LambdaTarget(python_version="3.99", architecture="arm64"),
    )
    with pytest.raises(lambda_package.NoBytecode, match=r"no Python 3\.99 found.*LAMBDA_PYTHON"):
        lambda_package.build(tmp_path)
    assert list(tmp_path.iterdir()) == [], "it stops before installing anything"
    assert lambda_package.precompile(tmp_path, "3.99") is None


def test_user_code_may_name_a_module_like_a_repository_folder(tmp_path: Path) -> None:
    """baton's packages live under `baton`: a user's own `handler` module no longer collides."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text("X = 1\n", encoding="utf-8")
    tree = tmp_path / "tree"
    tree.mkdir()
    assert lambda_package._add_user_code(tree, [code], []) == [f"copied {code}"]
    assert (tree / "handler.py").exists()


@pytest.mark.parametrize("given", ["", "."])
def test_user_code_holding_the_build_folder_is_refused_before_anything_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Found by the CLI's fuzz: `baton deploy --user-code ''` (the current folder, which holds
    the default build folder) copied the build into itself until the path was too long, and
    died with a RecursionError after a whole install."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks.py").write_text("X = 1\n", encoding="utf-8")
    installs: list[tuple[str, ...]] = []
    monkeypatch.setattr(lambda_package, "_pip", lambda *args: installs.append(args))
    with pytest.raises(SystemExit, match=r"holds the package's build folder build/lambda"):
        lambda_package.build(Path("build/lambda"), [Path(given)], allow_no_bytecode=True)
    assert installs == [] and not (tmp_path / "build").exists()


def test_user_code_that_installs_a_baton_package_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the CLI's fuzz: `baton deploy --user-code ''` in baton's own checkout installed
    baton itself as user code, and the build died copying baton's code over it
    (`FileExistsError`)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'baton'\n", encoding="utf-8")
    tree = tmp_path / "tree"
    tree.mkdir()

    def pip(*args: str) -> None:  # what pip does with a project that ships `baton`
        (tree / "baton").mkdir()

    monkeypatch.setattr(lambda_package, "_pip", pip)
    with pytest.raises(SystemExit, match=r"installs a package named 'baton'.*replace baton's own"):
        lambda_package._add_user_code(tree, [project], [])
