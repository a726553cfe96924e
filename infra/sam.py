"""Read the SAM template and transform it to plain CloudFormation offline, as AWS would.

    python -m infra.sam transform [--out build/infra/template.cfn.json]

`make lint` runs cfn-lint on the output as well as on the SAM template: the transform catches
errors the SAM lint misses. The tests deploy the same output into moto's CloudFormation.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent / "template.yaml"
DEFAULT_OUT = Path("build/infra/template.cfn.json")
# samtranslator only accepts code in S3; the real deploy uploads the package (sam deploy).
PLACEHOLDER_CODE_URI = "s3://baton-offline-transform/baton-lambda.zip"
SERVERLESS_FUNCTION = "AWS::Serverless::Function"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, short-form tags (!Sub, !Ref, ...) spelled out as Fn:: keys.

    Read with aws-sam-translator's own reading of CloudFormation's short forms (as the AWS CLI
    reads them), so an installed baton needs no linter to deploy.
    """
    import yaml  # type: ignore[import-untyped]
    from samtranslator.yaml_helper import (  # type: ignore[import-untyped]
        intrinsics_multi_constructor,
    )

    class _Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    _Loader.add_multi_constructor("!", intrinsics_multi_constructor)
    parsed = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    plain: dict[str, Any] = json.loads(json.dumps(parsed))
    return plain


def with_s3_code(template: dict[str, Any], code_uri: str = PLACEHOLDER_CODE_URI) -> dict[str, Any]:
    """A copy whose functions take their code from `code_uri`, as the offline transform needs."""
    out = copy.deepcopy(template)
    function_globals = out.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = code_uri
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") == SERVERLESS_FUNCTION and "CodeUri" in resource.get(
            "Properties", {}
        ):
            resource["Properties"]["CodeUri"] = code_uri
    return out


class _NoManagedPolicies:
    """The template names no managed policy, so the transform must never need to look one up."""

    def load(self) -> dict[str, str]:
        raise RuntimeError("the template must not use managed policies by name")


def transform(
    template: dict[str, Any] | None = None, code_uri: str = PLACEHOLDER_CODE_URI
) -> dict[str, Any]:
    """The CloudFormation that AWS::Serverless-2016-10-31 makes of the template, offline, with
    the functions' code at `code_uri` (s3://bucket/key)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import (  # type: ignore[import-untyped]
        transform as sam_transform,
    )

    source = with_s3_code(load_template() if template is None else template, code_uri)
    result = sam_transform(source, {}, _NoManagedPolicies())
    plain: dict[str, Any] = json.loads(json.dumps(result))
    return plain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sam", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("transform", help="write the offline CloudFormation transform")
    cmd.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    cfn = transform()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(cfn, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(cfn['Resources'])} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
