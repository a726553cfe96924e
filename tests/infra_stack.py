"""Deploy the transformed template into moto's CloudFormation, and finish what moto skips.

moto creates most resources of the template, resolving every intrinsic function itself. It
skips a few types, which it lists with an empty logical id: `AWS::CloudWatch::Alarm`,
`AWS::Lambda::EventInvokeConfig`, `AWS::S3::BucketPolicy` and `AWS::Budgets::Budget`. For
those, `deploy` resolves the properties against the deployed stack (Ref, Fn::GetAtt, Fn::Sub,
Fn::If and the template's conditions) and creates them through the service APIs, so afterwards
every resource of the template exists and can be inspected the same way. Anything else moto
skips fails the deploy. `OfflineStack` resolves the same way with no deploy at all.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.sam import PLACEHOLDER_CODE_URI

MOTO_SKIPS = {
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Budgets::Budget",
    "AWS::S3::BucketPolicy",
}
REGION = "us-east-1"
ACCOUNT = "123456789012"


def client(service: Any) -> Any:
    return boto3.client(service, region_name=REGION)


@dataclass
class Stack:
    name: str
    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        return str(self.template["Parameters"][name].get("Default", ""))

    # ------------------------------------------------------------ resolving intrinsics

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def present(self) -> set[str]:
        """The logical ids of the resources the stack has: those whose Condition holds."""
        return {
            logical
            for logical, resource in self.resources.items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self._get_att(*arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(x) for x in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Fn::Join":
                return arg[0].join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} in a resource moto skips")
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in names:
                return str(self.resolve(names[name]))
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self._get_att(logical, attribute))
            value = self._ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::NoValue": _NO_VALUE,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.name}/1",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            spec = self.template["Parameters"][name]
            value = self.parameter(name)
            return value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        return self.physical[name]

    def _get_att(self, logical: str, attribute: str) -> str:
        kind = self.resources[logical]["Type"]
        physical = self.physical[logical]
        if kind == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName"):
            arn = client("sqs").get_queue_attributes(
                QueueUrl=physical, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            return str(arn) if attribute == "Arn" else str(arn.rsplit(":", 1)[1])
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical}"
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return str(
                client("lambda").get_function(FunctionName=physical)["Configuration"]["FunctionArn"]
            )
        raise NotImplementedError(f"Fn::GetAtt {logical}.{attribute}")

    # ------------------------------------------------------------ what moto skips

    def create_skipped(self, logical: str) -> str:
        resource = self.resources[logical]
        props = self.resolve(resource["Properties"])
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            name = f"{self.name}-{logical}"
            # A Number parameter resolves to its string, as CloudFormation passes it.
            props["Threshold"] = float(props["Threshold"])
            client("cloudwatch").put_metric_alarm(AlarmName=name, **props)
            return name
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
            client("lambda").put_function_event_invoke_config(**props)
            return f"{props['FunctionName']}:{props['Qualifier']}"
        if resource["Type"] == "AWS::S3::BucketPolicy":
            document = json.dumps(props["PolicyDocument"])
            client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=document)
            return f"{props['Bucket']}-policy"
        if resource["Type"] == "AWS::Budgets::Budget":
            budget = props["Budget"]
            budget["BudgetLimit"]["Amount"] = str(budget["BudgetLimit"]["Amount"])
            client("budgets").create_budget(
                AccountId=ACCOUNT,
                Budget=budget,
                NotificationsWithSubscribers=props["NotificationsWithSubscribers"],
            )
            return str(budget["BudgetName"])
        raise AssertionError(f"moto skipped {logical} ({resource['Type']})")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def upload_placeholder_code() -> None:
    """The bucket and key the transform's placeholder CodeUri names, holding a tiny zip."""
    bucket, key = PLACEHOLDER_CODE_URI.removeprefix("s3://").split("/", 1)
    s3 = client("s3")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    if bucket not in buckets:
        s3.create_bucket(Bucket=bucket)
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        zf.writestr("baton/handler/__init__.py", "")
    s3.put_object(Bucket=bucket, Key=key, Body=body.getvalue())


def deploy(template: dict[str, Any], name: str, parameters: dict[str, str]) -> Stack:
    """Create the stack in moto (inside an active mock) and return what was made."""
    upload_placeholder_code()
    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    stack = Stack(name=name, template=template, parameters=parameters)
    listed = cfn.get_paginator("list_stack_resources").paginate(StackName=name)
    skipped = 0
    for page in listed:
        for summary in page["StackResourceSummaries"]:
            assert summary["ResourceStatus"] == "CREATE_COMPLETE", summary
            if summary["LogicalResourceId"]:
                stack.physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
            else:
                skipped += 1
    missing = sorted(stack.present() - set(stack.physical))
    # moto lists each resource of a type it skips, whatever that resource's Condition says, and
    # each resource whose Condition is false, all with an empty logical id.
    unsupported = [k for k, r in stack.resources.items() if r["Type"] in MOTO_SKIPS]
    absent = [
        k for k, r in stack.resources.items() if k not in stack.present() and k not in unsupported
    ]
    assert skipped == len(unsupported) + len(absent), (skipped, unsupported, absent)
    assert set(missing) <= set(unsupported), missing
    for logical in missing:
        stack.physical[logical] = stack.create_skipped(logical)
    stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return stack


@dataclass
class OfflineStack(Stack):
    """The template resolved against chosen physical names and attributes, with no deploy: what
    the IAM test evaluates the recorded calls against."""

    attributes: dict[str, str] = field(default_factory=dict)

    def _get_att(self, logical: str, attribute: str) -> str:
        key = f"{logical}.{attribute}"
        if key not in self.attributes:
            raise NotImplementedError(f"Fn::GetAtt {key}: give it to the OfflineStack")
        return self.attributes[key]
