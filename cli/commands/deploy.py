"""`baton doctor` and `baton deploy`: check the account, then build and deploy the stack from an
installed baton (no clone of the repository needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.table import Table

from baton.cli.failures import handles_errors
from baton.cli.output import EXIT_USAGE, console, fail
from baton.infra import deploy as stack_deploy
from baton.infra import package as lambda_package
from baton.infra.preflight import Report, preflight

StackOption = Annotated[str | None, typer.Option("--stack-name", help="default: baton")]
RegionOption = Annotated[str | None, typer.Option(help="default: AWS_REGION or the profile's")]
ParameterOption = Annotated[
    list[str] | None,
    typer.Option("--parameter", "-p", help="Key=Value, a template parameter (repeatable)"),
]
ConfigOption = Annotated[
    Path, typer.Option("--config", help="remembered answers (written by --guided)")
]


def _parameters(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            fail(f"--parameter takes Key=Value, got {pair!r}", EXIT_USAGE)
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _session(region: str | None) -> Any:
    return boto3.session.Session(
        region_name=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )


def _print_report(report: Report, stack_name: str) -> None:
    quota = "?" if report.concurrency_quota is None else str(report.concurrency_quota)
    console.print(
        f"account {report.account or '?'}, region {report.region or '?'}, stack {stack_name}: "
        f"Lambda concurrency quota {quota}, the stack needs at least {report.needed_concurrency}"
    )
    for problem in report.problems:
        console.print(f"[bold red]x[/] {problem.what}\n    [bold]fix:[/] {problem.fix}")
    for problem in report.unchecked:
        console.print(f"[bold yellow]?[/] {problem.what}\n    [bold]check:[/] {problem.fix}")
    if not report.problems:
        console.print("[green]ok[/]: nothing found that would stop the deploy")


@handles_errors
def doctor(
    stack_name: StackOption = None,
    region: RegionOption = None,
    parameter: ParameterOption = None,
    config: ConfigOption = Path(stack_deploy.CONFIG_NAME),
) -> None:
    """Check the account and the parameters before a deploy: Lambda concurrency quota, region,
    stack name, the buckets, tables and keys named. Exits 1 with what to change."""
    remembered = stack_deploy.DeployConfig.load(config)
    name = stack_name or remembered.stack_name
    parameters = {**remembered.parameters, **_parameters(parameter)}
    report = preflight(_session(region or remembered.region or None), name, parameters)
    _print_report(report, name)
    if report.problems:
        raise typer.Exit(1)


def _ask(config: stack_deploy.DeployConfig, session: Any) -> stack_deploy.DeployConfig:
    """`sam deploy --guided`'s questions, the remembered answers as defaults."""
    config.stack_name = typer.prompt("Stack name", default=config.stack_name)
    config.region = typer.prompt(
        "AWS region", default=config.region or session.region_name or "us-east-1"
    )
    for name, spec in stack_deploy.parameter_specs():
        default = config.parameters.get(name, str(spec.get("Default", "")))
        answer = typer.prompt(f"Parameter {name}", default=default, show_default=True)
        if answer != str(spec.get("Default", "")):
            config.parameters[name] = answer
        else:
            config.parameters.pop(name, None)
    config.s3_bucket = typer.prompt(
        "Bucket for the package (empty: baton-deploy-<account>-<region>, made if missing)",
        default=config.s3_bucket,
        show_default=bool(config.s3_bucket),
    )
    config.confirm = typer.confirm("Show the changes and confirm before deploying", default=True)
    return config


def _show(change_set: stack_deploy.ChangeSet) -> None:
    table = Table(title=f"{change_set.kind} stack {change_set.stack_name}")
    for column in ("action", "resource", "type", "replacement"):
        table.add_column(column)
    for c in change_set.changes:
        table.add_row(c["action"], c["logical"], c["type"], c["replacement"])
    console.print(table)


def deploy(
    stack_name: StackOption = None,
    region: RegionOption = None,
    parameter: ParameterOption = None,
    config: ConfigOption = Path(stack_deploy.CONFIG_NAME),
    guided: Annotated[
        bool, typer.Option(help="ask for every setting, and remember the answers")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="deploy without confirming")] = False,
    user_code: Annotated[
        list[Path] | None, typer.Option(help="your modules' folder, project or wheel")
    ] = None,
    requirements: Annotated[Path | None, typer.Option(help="your code's requirements")] = None,
    modules: Annotated[str, typer.Option(help="your modules, comma-separated")] = "",
    out: Annotated[Path, typer.Option(help="where the package is built")] = Path("build/lambda"),
    allow_no_bytecode: Annotated[
        bool, typer.Option(help="ship sources only without a Python of the runtime's version")
    ] = False,
    use_sam: Annotated[bool, typer.Option(help="use the SAM CLI when it is installed")] = True,
) -> None:
    """Build the Lambda package from this installation and your code, and deploy the stack
    (SAM CLI when installed, else CloudFormation). --guided asks like `sam deploy --guided`."""
    try:
        _deploy(
            stack_name, region, parameter, config, guided, yes, user_code, requirements,
            modules, out, allow_no_bytecode, use_sam,
        )  # fmt: skip
    except (stack_deploy.DeployError, lambda_package.NoBytecode) as exc:
        fail(str(exc))


@handles_errors
def _deploy(
    stack_name: str | None,
    region: str | None,
    parameter: list[str] | None,
    config: Path,
    guided: bool,
    yes: bool,
    user_code: list[Path] | None,
    requirements: Path | None,
    modules: str,
    out: Path,
    allow_no_bytecode: bool,
    use_sam: bool,
) -> None:
    settings = stack_deploy.DeployConfig.load(config)
    session = _session(region or settings.region or None)
    if guided:
        settings = _ask(settings, session)
        session = _session(settings.region)
        if typer.confirm(f"Save the answers to {config}", default=True):
            settings.save(config)
    settings.stack_name = stack_name or settings.stack_name
    settings.region = session.region_name or ""
    settings.parameters.update(_parameters(parameter))
    report = preflight(session, settings.stack_name, settings.parameters)
    _print_report(report, settings.stack_name)
    if report.problems:
        fail("fix the above, then deploy again (`baton doctor` checks without deploying)")
    shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.parameters.items())) or "defaults"
    console.print(f"building the Lambda package in {out} (parameters: {shown})")
    names = tuple(m.strip() for m in modules.split(",") if m.strip())
    manifest = lambda_package.build(
        out, list(user_code or ()), requirements, names, allow_no_bytecode=allow_no_bytecode
    )
    console.print(lambda_package.report(manifest), highlight=False)
    zip_path = Path(manifest["zip"])
    sam = stack_deploy.find_sam() if use_sam else None
    if sam:
        command = stack_deploy.sam_command(sam, out / "sam", zip_path, settings)
        if yes:
            command[command.index("--confirm-changeset")] = "--no-confirm-changeset"
        console.print(f"deploying with the SAM CLI: {' '.join(command)}")
        stack_deploy.run_sam(command)
        return
    cloudformation = session.client("cloudformation")
    s3 = session.client("s3")
    bucket = stack_deploy.artifact_bucket(s3, report.account, settings.region, settings.s3_bucket)
    code_uri = stack_deploy.upload(s3, bucket, zip_path)
    console.print(f"package uploaded to {code_uri}")
    change_set = stack_deploy.create_change_set(
        cloudformation, s3, bucket, settings.stack_name, code_uri, settings.parameters
    )
    if change_set is None:
        console.print(f"stack {settings.stack_name} is up to date: nothing to deploy")
        return
    _show(change_set)
    if settings.confirm and not yes and not typer.confirm("Deploy these changes", default=False):
        cloudformation.delete_change_set(
            StackName=settings.stack_name, ChangeSetName=change_set.name
        )
        fail("not deployed (the change set was deleted)")
    found = stack_deploy.execute(cloudformation, change_set)
    console.print(f"[green]stack {settings.stack_name} {change_set.kind.lower()}d[/]")
    if "BatonEnvironment" in found:
        console.print("for the CLI:\n  export " + found["BatonEnvironment"], highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
    app.command()(deploy)
