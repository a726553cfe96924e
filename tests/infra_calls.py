"""What IAM checks for each recorded AWS API call: the action(s) and the resource ARN(s).

From the service authorization reference (the "Actions defined by ..." tables of DynamoDB, S3,
Lambda and SQS). An operation without an entry here fails the IAM test with a request to add it:
a new kind of call must be mapped (and granted) on purpose, never waved through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from tests.support.aws_calls import Call

ACCOUNT = "123456789012"
PARTITION = "aws"


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call."""

    action: str
    resource: str


def _table(call: Call, name: str | None = None) -> str:
    table = name or call.params["TableName"]
    return f"arn:{PARTITION}:dynamodb:{call.region}:{ACCOUNT}:table/{table}"


def _table_or_index(call: Call) -> str:
    index = call.params.get("IndexName")
    return f"{_table(call)}/index/{index}" if index else _table(call)


def _bucket(name: str) -> str:
    return f"arn:{PARTITION}:s3:::{name}"


def _object(call: Call, key: str | None = None) -> str:
    name = key if key is not None else call.params["Key"]
    return f"arn:{PARTITION}:s3:::{call.params['Bucket']}/{name}"


def _function(call: Call) -> str:
    """FunctionName may be a name, a partial ARN or a full ARN, with or without a qualifier."""
    name = call.params["FunctionName"]
    if name.startswith("arn:"):
        arn = name
    else:
        parts = name.split(":")
        if len(parts) >= 3:  # ACCOUNT:function:NAME[:QUALIFIER]
            arn = f"arn:{PARTITION}:lambda:{call.region}:" + name
        else:
            arn = f"arn:{PARTITION}:lambda:{call.region}:{ACCOUNT}:function:{name}"
    qualifier = call.params.get("Qualifier")
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


def _queue(call: Call) -> str:
    if "QueueUrl" in call.params:
        path = urlparse(call.params["QueueUrl"]).path.strip("/").split("/")
        account, name = path[-2], path[-1]
    else:
        account, name = ACCOUNT, call.params["QueueName"]
    return f"arn:{PARTITION}:sqs:{call.region}:{account}:{name}"


def _one(action: str, resource: Callable[[Call], str]) -> Callable[[Call], list[Request]]:
    return lambda call: [Request(action, resource(call))]


def _batch_get(call: Call) -> list[Request]:
    return [Request("dynamodb:BatchGetItem", _table(call, t)) for t in call.params["RequestItems"]]


def _batch_write(call: Call) -> list[Request]:
    return [
        Request("dynamodb:BatchWriteItem", _table(call, t)) for t in call.params["RequestItems"]
    ]


_TRANSACT = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "Get": "dynamodb:GetItem",
}


def _transact(call: Call) -> list[Request]:
    return [
        Request(_TRANSACT[kind], _table(call, table))
        for kind, table in call.params["TransactItems"]
    ]


def _get_object(call: Call) -> list[Request]:
    action = "s3:GetObjectVersion" if "VersionId" in call.params else "s3:GetObject"
    return [Request(action, _object(call))]


def _copy(call: Call) -> list[Request]:
    source = call.params["CopySource"].split("?versionId=")[0]
    return [Request("s3:PutObject", _object(call)), Request("s3:GetObject", _bucket(source))]


def _delete_objects(call: Call) -> list[Request]:
    return [Request("s3:DeleteObject", _object(call, key)) for key in call.params["Keys"]]


MAPPING: dict[tuple[str, str], Callable[[Call], list[Request]]] = {
    # DynamoDB
    ("dynamodb", "GetItem"): _one("dynamodb:GetItem", _table),
    ("dynamodb", "PutItem"): _one("dynamodb:PutItem", _table),
    ("dynamodb", "UpdateItem"): _one("dynamodb:UpdateItem", _table),
    ("dynamodb", "DeleteItem"): _one("dynamodb:DeleteItem", _table),
    ("dynamodb", "Query"): _one("dynamodb:Query", _table_or_index),
    ("dynamodb", "Scan"): _one("dynamodb:Scan", _table_or_index),
    ("dynamodb", "DescribeTable"): _one("dynamodb:DescribeTable", _table),
    ("dynamodb", "CreateTable"): _one("dynamodb:CreateTable", _table),
    ("dynamodb", "UpdateTimeToLive"): _one("dynamodb:UpdateTimeToLive", _table),
    ("dynamodb", "BatchGetItem"): _batch_get,
    ("dynamodb", "BatchWriteItem"): _batch_write,
    ("dynamodb", "TransactWriteItems"): _transact,
    ("dynamodb", "TransactGetItems"): _transact,
    # S3 (HeadObject is GetObject to IAM, HeadBucket is ListBucket)
    ("s3", "ListObjectsV2"): _one("s3:ListBucket", lambda c: _bucket(c.params["Bucket"])),
    ("s3", "ListObjects"): _one("s3:ListBucket", lambda c: _bucket(c.params["Bucket"])),
    ("s3", "HeadBucket"): _one("s3:ListBucket", lambda c: _bucket(c.params["Bucket"])),
    ("s3", "ListObjectVersions"): _one(
        "s3:ListBucketVersions", lambda c: _bucket(c.params["Bucket"])
    ),
    ("s3", "GetObject"): _get_object,
    ("s3", "HeadObject"): _get_object,
    ("s3", "PutObject"): _one("s3:PutObject", _object),
    ("s3", "CreateMultipartUpload"): _one("s3:PutObject", _object),
    ("s3", "UploadPart"): _one("s3:PutObject", _object),
    ("s3", "CompleteMultipartUpload"): _one("s3:PutObject", _object),
    ("s3", "AbortMultipartUpload"): _one("s3:AbortMultipartUpload", _object),
    ("s3", "CopyObject"): _copy,
    ("s3", "DeleteObject"): _one("s3:DeleteObject", _object),
    ("s3", "DeleteObjects"): _delete_objects,
    ("s3", "GetObjectTagging"): _one("s3:GetObjectTagging", _object),
    ("s3", "PutObjectTagging"): _one("s3:PutObjectTagging", _object),
    ("s3", "CreateBucket"): _one("s3:CreateBucket", lambda c: _bucket(c.params["Bucket"])),
    ("s3", "PutPublicAccessBlock"): _one(
        "s3:PutBucketPublicAccessBlock", lambda c: _bucket(c.params["Bucket"])
    ),
    ("s3", "PutBucketEncryption"): _one(
        "s3:PutEncryptionConfiguration", lambda c: _bucket(c.params["Bucket"])
    ),
    # Lambda
    ("lambda", "Invoke"): _one("lambda:InvokeFunction", _function),
    ("lambda", "GetFunctionConcurrency"): _one("lambda:GetFunctionConcurrency", _function),
    ("lambda", "PutFunctionConcurrency"): _one("lambda:PutFunctionConcurrency", _function),
    ("lambda", "DeleteFunctionConcurrency"): _one("lambda:DeleteFunctionConcurrency", _function),
    ("lambda", "GetFunction"): _one("lambda:GetFunction", _function),
    # The kill switch keeps the reserved concurrency it replaced in a tag on the function.
    ("lambda", "TagResource"): _one("lambda:TagResource", lambda c: c.params["Resource"]),
    ("lambda", "UntagResource"): _one("lambda:UntagResource", lambda c: c.params["Resource"]),
    # SQS (DeleteMessageBatch is authorized as DeleteMessage)
    ("sqs", "ReceiveMessage"): _one("sqs:ReceiveMessage", _queue),
    ("sqs", "DeleteMessage"): _one("sqs:DeleteMessage", _queue),
    ("sqs", "DeleteMessageBatch"): _one("sqs:DeleteMessage", _queue),
    ("sqs", "ChangeMessageVisibility"): _one("sqs:ChangeMessageVisibility", _queue),
    ("sqs", "ChangeMessageVisibilityBatch"): _one("sqs:ChangeMessageVisibility", _queue),
    ("sqs", "PurgeQueue"): _one("sqs:PurgeQueue", _queue),
    ("sqs", "SendMessage"): _one("sqs:SendMessage", _queue),
    ("sqs", "GetQueueAttributes"): _one("sqs:GetQueueAttributes", _queue),
    ("sqs", "GetQueueUrl"): _one("sqs:GetQueueUrl", _queue),
}


class Unmapped(KeyError):
    pass


def requests(call: Call) -> list[Request]:
    """The authorizations IAM makes for `call`; Unmapped for an operation not listed here."""
    mapping = MAPPING.get((call.service, call.operation))
    if mapping is None:
        raise Unmapped(
            f"no IAM mapping for {call.service}:{call.operation} (sent by {call.principal}): "
            f"add it to tests/infra_calls.py from AWS's service authorization reference"
        )
    return mapping(call)
