"""`baton doctor` and `baton deploy`: check the account, then build and deploy the stack from an
installed baton (no clone of the repository needed)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.markup import escape
from rich.table import Table

from baton.cli.failures import handles_errors
from baton.cli.output import EXIT_USAGE, console, fail
from baton.infra import deploy as stack_deploy
from baton.infra import package as lambda_package
from baton.infra.preflight import Report, is_region, preflight


def _build_folder(value: Path) -> Path:
    """The package's folder is emptied before each build: never the current folder or a parent
    of it, where that would delete the user's own files."""
    if Path.cwd().resolve().is_relative_to(value.resolve()):
        raise typer.BadParameter(
            f"{str(value) or repr('')} is the current folder or holds it; the build empties "
            "its folder first: give a folder of its own (default build/lambda)"
        )
    return value


def _region(value: str | None) -> str | None:
    """A region name's shape at the flag, so a typo is a usage error, not a crash in the SDK."""
    if value is not None and not is_region(value):
        raise typer.BadParameter(f"not an AWS region name (like us-east-1): {value!r}")
    return value


StackOption = Annotated[str | None, typer.Option("--stack-name", help="default: baton")]
RegionOption = Annotated[
    str | None, typer.Option(help="default: AWS_REGION or the profile's", callback=_region)
]
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
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            fail(escape(f"--parameter takes Key=Value, got {pair!r}"), EXIT_USAGE)
        out[key.strip()] = value.strip()
    return out


def _load(config: Path) -> stack_deploy.DeployConfig:
    """The remembered answers; a file that cannot be read or parsed is a usage error."""
    try:
        return stack_deploy.DeployConfig.load(config)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(escape(f"cannot read --config {config}: {exc}"), EXIT_USAGE)
    except (AttributeError, TypeError, ValueError):
        fail(escape(f"--config {config} is not a baton-deploy.toml ([default] table)"), EXIT_USAGE)


def _session(region: str | None, source: str = "--region or the config file") -> Any:
    for name, value in (
        (source, region),
        ("AWS_REGION", os.environ.get("AWS_REGION")),
        ("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION")),
    ):
        if value:
            if not is_region(value):
                fail(
                    escape(f"{name} is not an AWS region name (like us-east-1): {value!r}"),
                    EXIT_USAGE,
                )
            return boto3.session.Session(region_name=value)
    session = boto3.session.Session()
    if session.region_name and not is_region(session.region_name):
        fail(
            escape(
                f"the profile's region is not an AWS region name (like us-east-1): "
                f"{session.region_name!r}"
            ),
            EXIT_USAGE,
        )
    return session


def _print_report(report: Report, stack_name: str) -> None:
    quota = "?" if report.concurrency_quota is None else str(report.concurrency_quota)
    console.print(
        f"account {report.account or '?'}, region {report.region or '?'}, "
        f"stack {escape(stack_name)}: "
        f"Lambda concurrency quota {quota}, the stack needs at least {report.needed_concurrency}"
    )
    for problem in report.problems:
        console.print(
            f"[bold red]x[/] {escape(problem.what)}\n    [bold]fix:[/] {escape(problem.fix)}"
        )
    for problem in report.unchecked:
        console.print(
            f"[bold yellow]?[/] {escape(problem.what)}\n    [bold]check:[/] {escape(problem.fix)}"
        )
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
    remembered = _load(config)
    name = stack_name or remembered.stack_name
    parameters = {**remembered.parameters, **_parameters(parameter)}
    source = "--region" if region else f"region in {config}"
    report = preflight(_session(region or remembered.region or None, source), name, parameters)
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
        list[Path] | None,
        typer.Option(help="your modules' folder, project or wheel", exists=True),
    ] = None,
    requirements: Annotated[
        Path | None,
        typer.Option(help="your code's requirements", exists=True, dir_okay=False, readable=True),
    ] = None,
    modules: Annotated[str, typer.Option(help="your modules, comma-separated")] = "",
    out: Annotated[
        Path, typer.Option(help="where the package is built", callback=_build_folder)
    ] = Path("build/lambda"),
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
    except subprocess.CalledProcessError as exc:
        # pip (or another build step) refused; its own output went to the terminal above.
        command = " ".join(str(part) for part in exc.cmd[:4]) if isinstance(exc.cmd, list) else ""
        fail(escape(f"the package build failed: `{command} ...` exited {exc.returncode}"))


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
    settings = _load(config)
    source = "--region" if region else f"region in {config}"
    session = _session(region or settings.region or None, source)
    if guided:
        settings = _ask(settings, session)
        session = _session(settings.region, "the region answered")
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
