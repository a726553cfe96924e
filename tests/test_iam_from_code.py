"""The template's IAM, derived from the code: every call allowed, every grant used.

moto enforces no IAM, so a missing permission passes every other test and fails on AWS. Here the
scenarios of tests/iam_scenarios.py run the worker, the watchdog and the `baton` CLI in process
against moto while a botocore hook records each distinct AWS call and who sent it. Each call is
mapped to the IAM authorizations AWS makes for it (tests/infra_calls.py) and evaluated
(tests/infra_iam.py) against the policies of the transformed template, resolved for a stack
named "baton": the worker's role, the watchdog's role, and the OperatorPolicy (plus the state
bucket's policy, whose Deny applies to everyone). The test fails on any call not allowed and on
any granted action or resource no call uses (apart from the few AWS itself uses on a role's
behalf, listed below with the reason).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from baton.handler.launch import launch, prepare
from baton.local.lambda_service.function_config import FunctionConfig
from baton.local.stack import LocalStack
from baton.store.records import JobStatus
from infra.sam import transform
from tests.iam_scenarios import (
    QUEUE,
    REGION,
    SCENARIOS,
    STACK_NAME,
    STATE_BUCKET,
    TABLE,
    WALK_BUCKET,
    template_parameters,
    world,
)
from tests.infra_calls import ACCOUNT, Request, requests
from tests.infra_iam import Statement, decide, matches, policy_documents, statements
from tests.infra_stack import OfflineStack
from tests.support.aws_calls import FILE_ENV, PRINCIPAL_ENV, Call, read_calls
from tests.support.local_e2e import fill

PRINCIPALS = {"worker": "WorkerRole", "watchdog": "WatchdogRole", "operator": "OperatorPolicy"}
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK_NAME}-worker"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE}"

# Statements (principal, Sid) no call of the code shows, and why they are granted anyway.
NOT_CALLED_BY_THE_CODE = {
    ("worker", "OwnLogGroup"): "Lambda writes the function's logs with its role",
    ("watchdog", "OwnLogGroup"): "Lambda writes the function's logs with its role",
    ("worker", "OnFailureDestination"): "Lambda sends failed events to the queue with the role",
    ("worker", "StateBucketList"): "S3 answers GetObject on a missing key with NoSuchKey, not "
    "AccessDenied, only with ListBucket: the codec reports a missing commit as such",
    ("worker", "KmsKeys"): "S3 decrypts and encrypts objects with the key on the role's behalf",
    ("operator", "ReadStackOutputs"): "the documented `aws cloudformation describe-stacks` step "
    "reads the BatonEnvironment output (the AWS CLI, not baton)",
}


def offline_stack(cfn: dict[str, Any], parameters: dict[str, str]) -> OfflineStack:
    """The transform resolved for the stack "baton", with the names the scenarios use."""
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    return OfflineStack(
        name=STACK_NAME,
        template=cfn,
        parameters=parameters,
        physical={
            "JobsTable": TABLE,
            "StateBucket": STATE_BUCKET,
            "FailedEvents": QUEUE_URL,
            "Worker": f"{STACK_NAME}-worker",
            "Watchdog": f"{STACK_NAME}-watchdog",
        },
        attributes={
            "JobsTable.Arn": table_arn,
            "StateBucket.Arn": f"arn:aws:s3:::{STATE_BUCKET}",
            "FailedEvents.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
            "FailedEvents.QueueName": QUEUE,
            "Worker.Arn": FUNCTION_ARN,
        },
    )


def identity_policies(stack: OfflineStack) -> dict[str, list[dict[str, Any]]]:
    """Each principal's policies as resolved for the stack: a role's inline policies and the
    managed policies the stack attaches to it (those whose Condition holds)."""
    out: dict[str, list[dict[str, Any]]] = {}
    present = stack.present()
    for principal, logical in PRINCIPALS.items():
        props = stack.resolve(stack.resources[logical]["Properties"])
        if "Policies" in props:
            out[principal] = [p["PolicyDocument"] for p in props["Policies"]]
            for other in sorted(present):
                resource = stack.resources[other]
                roles = resource.get("Properties", {}).get("Roles", [])
                if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": logical} in roles:
                    out[principal].append(stack.resolve(resource["Properties"]["PolicyDocument"]))
        else:
            out[principal] = [props["PolicyDocument"]]
    return out


def resource_policies(stack: OfflineStack) -> dict[str, list[dict[str, Any]]]:
    """ARN prefix -> the resource policies that apply to requests on it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for resource in stack.resources.values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            props = stack.resolve(resource["Properties"])
            out.setdefault(f"arn:aws:s3:::{props['Bucket']}", []).append(props["PolicyDocument"])
    return out


@pytest.fixture(scope="module")
def calls() -> Iterator[set[Call]]:
    with warnings.catch_warnings(), mock_aws(), world() as w:
        warnings.simplefilter("ignore", UserWarning)
        for scenario in SCENARIOS:
            scenario.run(w)
        yield set(w.recorder.calls)


@pytest.fixture(scope="module")
def stack() -> OfflineStack:
    return offline_stack(transform(), template_parameters(SCENARIOS))


def by_principal(calls: set[Call]) -> dict[str, set[tuple[Request, Call]]]:
    out: dict[str, set[tuple[Request, Call]]] = {p: set() for p in PRINCIPALS}
    for call in calls:
        for request in requests(call):
            out[call.principal].add((request, call))
    return out


def denied(stack: OfflineStack, calls: set[Call]) -> list[str]:
    identity = identity_policies(stack)
    on_resources = resource_policies(stack)
    refused = []
    for principal, seen in by_principal(calls).items():
        for request, call in sorted(seen, key=str):
            theirs = [
                doc
                for prefix, docs in on_resources.items()
                if request.resource == prefix or request.resource.startswith(prefix + "/")
                for doc in docs
            ]
            decision = decide(
                identity[principal], request.action, request.resource, resource_policies=theirs
            )
            if decision != "Allow":
                refused.append(
                    f"{principal}: {request.action} on {request.resource} ({decision}; sent as "
                    f"{call.service}:{call.operation})"
                )
    return refused


def unused(stack: OfflineStack, calls: set[Call]) -> list[str]:
    """Every action and every resource of an Allow statement that no recorded call needs."""
    identity = identity_policies(stack)
    seen = by_principal(calls)
    found = []
    for principal, documents in identity.items():
        made = [request for request, _ in seen[principal]]
        for statement in statements(documents):
            if statement.effect != "Allow":
                continue
            if (principal, statement.sid) in NOT_CALLED_BY_THE_CODE:
                continue
            for action in statement.actions:
                if not any(
                    matches(action, r.action, ignore_case=True)
                    and statement.resource_matches(r.resource)
                    for r in made
                ):
                    found.append(f"{principal} {statement.sid}: {action} is never used")
            for resource in statement.resources:
                if not any(
                    matches(resource, r.resource) and statement.action_matches(r.action)
                    for r in made
                ):
                    found.append(f"{principal} {statement.sid}: {resource} is never used")
    return found


# ---------------------------------------------------------------------------- the test


def test_every_call_the_code_sends_is_allowed_by_the_template(
    stack: OfflineStack, calls: set[Call]
) -> None:
    assert {c.principal for c in calls} == set(PRINCIPALS)
    refused = denied(stack, calls)
    assert refused == [], "not allowed by the template:\n" + "\n".join(refused)


def test_every_permission_the_template_grants_is_used(
    stack: OfflineStack, calls: set[Call]
) -> None:
    idle = unused(stack, calls)
    assert idle == [], "granted but never used:\n" + "\n".join(idle)


def test_the_recorder_sees_every_client_the_code_makes(calls: set[Call]) -> None:
    """pynamodb's own sessions, the relay's clients and the CLI's are all heard."""
    ops = {(c.principal, c.service, c.operation) for c in calls}
    assert {
        ("worker", "dynamodb", "UpdateItem"),  # pynamodb
        ("worker", "dynamodb", "BatchGetItem"),  # the fan-out parent polling its shards
        ("worker", "lambda", "Invoke"),  # the hand-off, short-circuited by LambdaSim
        ("worker", "s3", "ListObjectsV2"),
        ("worker", "s3", "PutObject"),  # a spilled state, a report
        ("watchdog", "dynamodb", "Query"),
        ("watchdog", "lambda", "GetFunctionConcurrency"),
        ("operator", "dynamodb", "BatchGetItem"),  # baton status PARENT
        ("operator", "sqs", "ReceiveMessage"),  # baton failed-events
        ("operator", "lambda", "PutFunctionConcurrency"),  # the kill switch
    } <= ops


# ---------------------------------------------------------------------------- the evaluator


def _doc(*raw: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(raw)}


def test_the_evaluator_follows_iams_logic() -> None:
    allow = {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
    deny = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"}
    docs = [_doc(allow, deny)]
    assert decide(docs, "s3:GetObject", "arn:aws:s3:::b/x") == "Allow"
    assert decide(docs, "S3:getobject", "arn:aws:s3:::b/x") == "Allow"  # actions: any case
    assert decide(docs, "s3:GetObject", "arn:aws:s3:::B/x") == "ImplicitDeny"  # resources: exact
    assert decide(docs, "s3:GetObject", "arn:aws:s3:::b/secret/k") == "ExplicitDeny"
    assert decide(docs, "s3:PutObject", "arn:aws:s3:::b/x") == "ImplicitDeny"
    assert decide(docs, "s3:GetObject", "arn:aws:s3:::bb/x") == "ImplicitDeny"
    one_char = [_doc({"Effect": "Allow", "Action": "s3:GetObjec?", "Resource": "*"})]
    assert decide(one_char, "s3:GetObject", "arn:aws:s3:::b/x") == "Allow"
    not_action = [
        _doc(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        )
    ]
    assert decide(not_action, "s3:GetObject", "arn:aws:s3:::b/x") == "Allow"
    assert decide(not_action, "s3:PutObject", "arn:aws:s3:::b/x") == "ExplicitDeny"
    assert decide(not_action, "s3:PutObject", "arn:aws:s3:::c/x") == "Allow"
    tls = _doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    assert decide(docs, "s3:GetObject", "arn:aws:s3:::b/x", resource_policies=[tls]) == "Allow"
    plain_http = {"aws:SecureTransport": "false"}
    assert (
        decide(
            docs, "s3:GetObject", "arn:aws:s3:::b/x", resource_policies=[tls], context=plain_http
        )
        == "ExplicitDeny"
    )
    with pytest.raises(ValueError, match="not supported"):
        Statement.parse({**allow, "Condition": {"NumericLessThan": {"k": "1"}}})


def test_the_mapping_names_the_resources_iam_checks() -> None:
    def call(service: str, operation: str, **params: Any) -> Call:
        return Call("worker", service, operation, REGION, json.dumps(params, sort_keys=True))

    assert requests(call("dynamodb", "Query", TableName="t", IndexName="by-status")) == [
        Request("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/index/by-status")
    ]
    assert requests(call("lambda", "Invoke", FunctionName=f"{FUNCTION_ARN}:live")) == [
        Request("lambda:InvokeFunction", f"{FUNCTION_ARN}:live")
    ]
    assert requests(call("lambda", "Invoke", FunctionName="baton-worker", Qualifier="7")) == [
        Request("lambda:InvokeFunction", f"{FUNCTION_ARN}:7")
    ]
    assert requests(call("s3", "HeadBucket", Bucket="b")) == [
        Request("s3:ListBucket", "arn:aws:s3:::b")
    ]
    assert requests(call("sqs", "DeleteMessageBatch", QueueUrl=QUEUE_URL)) == [
        Request("sqs:DeleteMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")
    ]
    with pytest.raises(KeyError, match="no IAM mapping for s3:GetBucketAcl"):
        requests(call("s3", "GetBucketAcl", Bucket="b"))


# ---------------------------------------------------------------------------- it can fail


def _without(cfn: dict[str, Any], logical: str, sid: str, action: str) -> dict[str, Any]:
    """A copy of the transform with `action` taken out of statement `sid` of `logical`."""
    mutated = copy.deepcopy(cfn)
    for document in policy_documents(mutated["Resources"][logical]):
        for statement in document["Statement"]:
            if isinstance(statement, dict) and statement.get("Sid") == sid:
                statement["Action"] = [a for a in statement["Action"] if a != action]
                return mutated
    raise AssertionError(f"no statement {sid} in {logical}")


@pytest.mark.parametrize(
    ("logical", "sid", "action", "principal"),
    [
        ("WorkerRole", "JobsTable", "dynamodb:BatchGetItem", "worker"),  # the fan-out parent
        ("OperatorPolicy", "Jobs", "dynamodb:BatchGetItem", "operator"),  # baton status PARENT
        ("OperatorPolicy", "FailedEvents", "sqs:ReceiveMessage", "operator"),
        ("OperatorPolicy", "FailedEvents", "sqs:PurgeQueue", "operator"),
        ("WatchdogRole", "RearmJobs", "dynamodb:UpdateItem", "watchdog"),
    ],
)
def test_a_missing_grant_is_caught(
    calls: set[Call], logical: str, sid: str, action: str, principal: str
) -> None:
    cfn = _without(transform(), logical, sid, action)
    refused = denied(offline_stack(cfn, template_parameters(SCENARIOS)), calls)
    assert refused and all(r.startswith(f"{principal}: {action} ") for r in refused), refused


def test_an_unused_grant_is_caught(calls: set[Call]) -> None:
    cfn = transform()
    policy = cfn["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
    policy["Statement"][0]["Action"].append("dynamodb:Scan")
    stack = offline_stack(cfn, template_parameters(SCENARIOS))
    assert unused(stack, calls) == ["operator Jobs: dynamodb:Scan is never used"]


# ---------------------------------------------------------------------------- across processes


def test_worker_processes_of_the_local_stack_are_recorded_and_allowed(
    stack: OfflineStack, tmp_path: Path
) -> None:
    """The same check on a real local-stack run: the worker in its own processes, its calls
    recorded there (BATON_RECORD_CALLS) and read back here."""
    path = tmp_path / "calls.jsonl"
    function = FunctionConfig(
        name=f"{STACK_NAME}-worker",
        # Room for a cold worker on a busy machine: this test is about calls, not timing.
        timeout_ms=30_000,
        handler="tests.support.recorded_handlers.worker",
    )
    with LocalStack(
        function=function,
        table=TABLE,
        state_bucket=STATE_BUCKET,
        min_margin_ms=1_500,
        checkpoint_s=1,
        log_level="WARNING",
        worker_env={FILE_ENV: str(path), PRINCIPAL_ENV: "worker"},
    ) as local:
        fill(local, WALK_BUCKET, 40)
        spec = prepare(
            "s3-walk",
            {"bucket": WALK_BUCKET, "action": "count"},
            action_modules=(),
            now_ms=local.store.clock.now_ms(),
            job_id="local",
        )
        launch(local.store, local.client("lambda"), local.function.name, spec)
        job = local.wait_for_job("local", lambda j: j.status.terminal, timeout_s=300)
        assert job.status is JobStatus.SUCCEEDED, job.last_error
    recorded = read_calls(path)
    assert {c.principal for c in recorded} == {"worker"}
    assert ("dynamodb", "UpdateItem") in {(c.service, c.operation) for c in recorded}
    assert ("s3", "ListObjectsV2") in {(c.service, c.operation) for c in recorded}
    assert denied(stack, recorded) == []


def test_every_exemption_names_a_statement_of_the_template() -> None:
    """A grant no call shows must still exist to be excused: stale exemptions are removed."""
    cfn = transform()
    for principal, sid in NOT_CALLED_BY_THE_CODE:
        logical = PRINCIPALS[principal]
        # The principal's own policies and the managed policies the template attaches to it.
        mine = [
            r
            for k, r in cfn["Resources"].items()
            if k == logical or {"Ref": logical} in r.get("Properties", {}).get("Roles", [])
        ]
        assert f'"Sid": "{sid}"' in json.dumps(mine), (principal, sid)
