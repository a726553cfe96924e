"""Deploy the stack from an installed baton: no clone of the repository, no SAM CLI needed.

`baton deploy` builds the Lambda package (infra/package.py) from the installed baton and the
user's code, then deploys the template one of two ways:

- with the SAM CLI on the PATH: `sam deploy` on the template, which uploads the package itself;
- without it, through CloudFormation with boto3: the package goes to an artefact bucket
  (`baton-deploy-<account>-<region>`, made private and encrypted if missing), the template is
  transformed offline by aws-sam-translator (as `sam deploy` does) with the package's S3 URI,
  and a change set is created, shown, executed and waited for.

AWS calls: sts GetCallerIdentity; s3 HeadBucket, CreateBucket, PutPublicAccessBlock,
PutBucketEncryption, PutObject; cloudformation DescribeStacks, CreateChangeSet,
DescribeChangeSet, ExecuteChangeSet, DeleteChangeSet. The deploying identity needs those and
what the stack creates (docs/deploy.md, Prerequisites).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .sam import load_template, transform

CONFIG_NAME = "baton-deploy.toml"
# CloudFormation takes a TemplateBody of up to 51,200 bytes; larger goes through S3
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html).
TEMPLATE_BODY_MAX = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
FAILED_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE")
# How long a deploy waits for CloudFormation: a change set is described in seconds, a stack
# with a new function and table takes minutes; past these the deploy stops with the status seen.
CHANGE_SET_WAIT_S = 600.0
STACK_WAIT_S = 3600.0


class DeployError(Exception):
    """The deploy could not go on; the message says why and what to do."""


@dataclass
class DeployConfig:
    """What `--guided` asks, remembered in baton-deploy.toml (like samconfig.toml)."""

    stack_name: str = "baton"
    region: str = ""
    s3_bucket: str = ""
    confirm: bool = True
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> DeployConfig:
        if not path.exists():
            return cls()
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("default", {})
        return cls(
            stack_name=str(raw.get("stack_name", "baton")),
            region=str(raw.get("region", "")),
            s3_bucket=str(raw.get("s3_bucket", "")),
            confirm=bool(raw.get("confirm", True)),
            parameters={str(k): str(v) for k, v in raw.get("parameters", {}).items()},
        )

    def save(self, path: Path) -> None:
        def q(value: str) -> str:
            return json.dumps(value)  # a TOML basic string is a JSON string

        lines = [
            "# baton deploy's remembered answers (baton deploy --guided writes this file)",
            "[default]",
            f"stack_name = {q(self.stack_name)}",
            f"region = {q(self.region)}",
            f"s3_bucket = {q(self.s3_bucket)}",
            f"confirm = {'true' if self.confirm else 'false'}",
            "",
            "[default.parameters]",
            *(f"{k} = {q(v)}" for k, v in sorted(self.parameters.items())),
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def parameter_specs() -> list[tuple[str, dict[str, Any]]]:
    """The template's parameters in the order its console groups show them."""
    template = load_template()
    specs = template["Parameters"]
    groups = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    ordered = [p for g in groups.get("ParameterGroups", []) for p in g["Parameters"]]
    ordered += [p for p in specs if p not in ordered]
    return [(name, specs[name]) for name in ordered]


def artifact_bucket(s3: Any, account: str, region: str, name: str = "") -> str:
    """The bucket the package goes to: `name`, or baton's own per account and region, made
    private and encrypted when it does not exist yet."""
    bucket = name or f"baton-deploy-{account}-{region}"
    ensure_private_bucket(s3, bucket, region)
    return bucket


def ensure_private_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create `bucket` in `region`, all public access blocked and SSE-S3 encrypted, unless it
    exists; True when created. Raises botocore's ClientError for anything but "not found"."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return True


def upload(s3: Any, bucket: str, path: Path, prefix: str = "baton") -> str:
    """The file under a key named by its content (a new package, a new key): its s3:// URI."""
    body = path.read_bytes()
    key = f"{prefix}/{hashlib.sha256(body).hexdigest()[:32]}{path.suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def stack_exists(cloudformation: Any, stack_name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    status = stacks[0]["StackStatus"]
    if status == "REVIEW_IN_PROGRESS":
        return False
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} is ROLLBACK_COMPLETE (its first deploy failed): delete it "
            f"(aws cloudformation delete-stack --stack-name {stack_name}), then deploy again"
        )
    return True


@dataclass(frozen=True)
class ChangeSet:
    stack_name: str
    name: str
    kind: str  # CREATE or UPDATE
    changes: list[dict[str, str]]


def _wait(
    read: Callable[[], str], done: set[str], what: str, timeout_s: float, poll_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        status = read()
        if status in done:
            return status
        if status.endswith(FAILED_SUFFIXES) or status == "FAILED":
            raise DeployError(f"{what}: {status}")
        if time.monotonic() > deadline:
            raise DeployError(f"{what}: still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def create_change_set(
    cloudformation: Any,
    s3: Any,
    bucket: str,
    stack_name: str,
    code_uri: str,
    parameters: dict[str, str],
    poll_s: float = 2.0,
) -> ChangeSet | None:
    """The change set that deploys the transformed template; None when nothing would change."""
    cfn = transform(code_uri=code_uri)
    body = json.dumps(cfn, separators=(",", ":"))
    source: dict[str, str] = {"TemplateBody": body}
    if len(body.encode()) > TEMPLATE_BODY_MAX:
        path_uri = _put_template(s3, bucket, body)
        source = {"TemplateURL": path_uri}
    kind = "UPDATE" if stack_exists(cloudformation, stack_name) else "CREATE"
    name = f"baton-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    known = set(cfn.get("Parameters", {}))
    cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if k in known
        ],
        Capabilities=CAPABILITIES,
        Description="baton deploy",
        **source,
    )

    def status() -> str:
        answer = cloudformation.describe_change_set(StackName=stack_name, ChangeSetName=name)
        if answer["Status"] == "FAILED" and "didn't contain changes" in answer.get(
            "StatusReason", ""
        ):
            return "EMPTY"
        if answer["Status"] == "FAILED":
            raise DeployError(f"change set failed: {answer.get('StatusReason', '?')}")
        return str(answer["Status"])

    if (
        _wait(status, {"CREATE_COMPLETE", "EMPTY"}, "change set", CHANGE_SET_WAIT_S, poll_s)
        == "EMPTY"
    ):
        cloudformation.delete_change_set(StackName=stack_name, ChangeSetName=name)
        return None
    described = cloudformation.describe_change_set(StackName=stack_name, ChangeSetName=name)
    changes = [
        {
            "action": c["ResourceChange"].get("Action", "?"),
            "logical": c["ResourceChange"].get("LogicalResourceId", "?"),
            "type": c["ResourceChange"].get("ResourceType", "?"),
            "replacement": str(c["ResourceChange"].get("Replacement", "")),
        }
        for c in described.get("Changes", [])
        if "ResourceChange" in c
    ]
    return ChangeSet(stack_name, name, kind, changes)


def _put_template(s3: Any, bucket: str, body: str) -> str:
    key = f"baton/{hashlib.sha256(body.encode()).hexdigest()[:32]}.template.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    region = s3.meta.region_name
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def execute(cloudformation: Any, change_set: ChangeSet, poll_s: float = 5.0) -> dict[str, str]:
    """Run the change set, wait for the stack, return its outputs."""
    cloudformation.execute_change_set(
        StackName=change_set.stack_name, ChangeSetName=change_set.name
    )
    done = {"CREATE_COMPLETE"} if change_set.kind == "CREATE" else {"UPDATE_COMPLETE"}

    def status() -> str:
        stack = cloudformation.describe_stacks(StackName=change_set.stack_name)["Stacks"][0]
        return str(stack["StackStatus"])

    _wait(status, done, f"stack {change_set.stack_name}", STACK_WAIT_S, poll_s)
    return outputs(cloudformation, change_set.stack_name)


def outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def sam_command(
    sam: str,
    template_dir: Path,
    zip_path: Path,
    config: DeployConfig,
) -> list[str]:
    """`sam deploy` on a copy of the template whose CodeUri is the package just built."""
    template_dir.mkdir(parents=True, exist_ok=True)
    text = (Path(__file__).resolve().parent / "template.yaml").read_text(encoding="utf-8")
    original = "CodeUri: ../build/lambda/baton-lambda.zip"
    if original not in text:
        raise DeployError("the template's CodeUri moved: update infra/deploy.py")
    template = template_dir / "template.yaml"
    template.write_text(text.replace(original, f"CodeUri: {zip_path.resolve()}"), "utf-8")
    command = [
        sam,
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        config.stack_name,
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
    ]
    if config.region:
        command += ["--region", config.region]
    command += ["--s3-bucket", config.s3_bucket] if config.s3_bucket else ["--resolve-s3"]
    if config.parameters:
        command += [
            "--parameter-overrides",
            " ".join(f"{k}={shlex.quote(v)}" for k, v in config.parameters.items()),
        ]
    command.append("--confirm-changeset" if config.confirm else "--no-confirm-changeset")
    return command


def run_sam(command: list[str]) -> None:
    if subprocess.run(command, check=False).returncode != 0:
        raise DeployError(f"sam deploy failed: {shlex.join(command)}")


def find_sam() -> str | None:
    return shutil.which("sam")
