"""Resolve a CloudFormation template for one parameter set, as CloudFormation would.

CloudFormation evaluates the Conditions, drops every resource whose Condition is false, replaces
`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Split`, `Fn::Select` and `Fn::If` by their values,
and removes any property or list element that resolves to `AWS::NoValue`
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html,
"AWS::NoValue removes the corresponding resource property"). What is left is what each service
receives, and what AWS's rules apply to (infra/rehearsal.py).

Physical names that CloudFormation generates are stood in for by names of the longest form it
generates (`<stack>-<logical id>-<13 characters>`, cut to the service's limit), so sizes measured
on the resolved template are an upper bound of the real ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# CloudFormation's generated names: "<stack>-<logical>-<random suffix>", cut to the type's limit
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html).
GENERATED_SUFFIX = "ABCDEFGHIJKLM"
GENERATED_NAME_LIMITS = {
    "AWS::S3::Bucket": 63,
    "AWS::SQS::Queue": 80,
    "AWS::IAM::Role": 64,
    "AWS::IAM::ManagedPolicy": 128,
}
PARTITIONS = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}
DOMAINS = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


class ResolveError(ValueError):
    """The template uses something this resolver cannot evaluate (a bug to fix here)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def partition_of(region: str) -> str:
    return next((p for prefix, p in PARTITIONS.items() if region.startswith(prefix)), "aws")


@dataclass
class Resolver:
    """One template, one stack name, one region and account, one set of parameter values."""

    template: dict[str, Any]
    stack_name: str
    parameters: dict[str, str]
    region: str = "us-east-1"
    account: str = "123456789012"
    _conditions: dict[str, bool] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    # ------------------------------------------------------------------ parameters

    def parameter_value(self, name: str) -> str:
        """The value CloudFormation uses: the one given, else the template's Default."""
        if name in self.parameters:
            return self.parameters[name]
        spec = self.template["Parameters"][name]
        if "Default" not in spec:
            raise ResolveError(f"parameter {name} has no value and no Default")
        default = spec["Default"]
        return ",".join(map(str, default)) if isinstance(default, list) else str(default)

    def _parameter(self, name: str) -> Any:
        spec = self.template["Parameters"][name]
        value = self.parameter_value(name)
        if spec["Type"] == "CommaDelimitedList" or spec["Type"].startswith("List<"):
            return value.split(",")
        return value

    # ------------------------------------------------------------------ conditions and resources

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def present(self) -> dict[str, dict[str, Any]]:
        """The resources the stack has (Condition true), unresolved."""
        return {
            logical: resource
            for logical, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource the stack has, its properties resolved."""
        out = {}
        for logical, resource in self.present().items():
            resolved = dict(resource)
            resolved["Properties"] = self.resolve(resource.get("Properties", {}))
            out[logical] = resolved
        return out

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    # ------------------------------------------------------------------ intrinsic functions

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical, attribute)
        if key == "Fn::If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            left, right = (self.resolve(x) for x in arg)
            return _scalar(left) == _scalar(right)
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
        if key == "Fn::ToJsonString":
            import json

            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise ResolveError(f"{key} is not supported by the resolver")

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
                return str(self.get_att(logical, attribute))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    # ------------------------------------------------------------------ references

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::NoValue": NO_VALUE,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": DOMAINS[self.partition],
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}"
            f":stack/{self.stack_name}/00000000-0000-0000-0000-000000000000",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self._parameter(name)
        return self.physical(name)

    def _generated(self, logical: str, kind: str) -> str:
        name = f"{self.stack_name}-{logical}-{GENERATED_SUFFIX}"
        name = name[: GENERATED_NAME_LIMITS.get(kind, 255)]
        return name.lower() if kind == "AWS::S3::Bucket" else name

    def _name(self, logical: str) -> str:
        """A resource's name: the one its properties give, else a generated one."""
        resource = self.template["Resources"][logical]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        for key in (
            "FunctionName",
            "TableName",
            "BucketName",
            "QueueName",
            "RoleName",
            "ManagedPolicyName",
            "LogGroupName",
            "DashboardName",
            "Name",
        ):
            if key in props:
                return str(self.resolve(props[key]))
        return self._generated(logical, kind)

    def physical(self, logical: str) -> str:
        """What `Ref` returns for a resource (per type, as each type's reference page says)."""
        if logical not in self.template["Resources"]:
            raise ResolveError(f"Ref {logical}: no such parameter or resource")
        kind = self.template["Resources"][logical]["Type"]
        name = self._name(logical)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.{DOMAINS[self.partition]}/{self.account}/{name}"
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{self.partition}:iam::{self.account}:policy/{name}"
        return name

    def get_att(self, logical: str, attribute: str) -> str:
        kind = self.template["Resources"][logical]["Type"]
        name = self._name(logical)
        p, r, a = self.partition, self.region, self.account
        arns = {
            "AWS::S3::Bucket": f"arn:{p}:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:{p}:dynamodb:{r}:{a}:table/{name}",
            "AWS::SQS::Queue": f"arn:{p}:sqs:{r}:{a}:{name}",
            "AWS::Lambda::Function": f"arn:{p}:lambda:{r}:{a}:function:{name}",
            "AWS::IAM::Role": f"arn:{p}:iam::{a}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:{p}:logs:{r}:{a}:log-group:{name}:*",
            "AWS::SNS::Topic": f"arn:{p}:sns:{r}:{a}:{name}",
            "AWS::Events::Rule": f"arn:{p}:events:{r}:{a}:rule/{name}",
            "AWS::CloudWatch::Alarm": f"arn:{p}:cloudwatch:{r}:{a}:alarm:{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return name
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.physical(logical)
        if kind == "AWS::IAM::Role" and attribute == "RoleId":
            return "AROA" + "X" * 17
        raise ResolveError(f"Fn::GetAtt {logical}.{attribute} ({kind}) is not supported")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
