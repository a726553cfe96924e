"""Build the functions' Lambda package (the code and its runtime dependencies) and prove it imports.

    python -m infra.package build  [--out build/lambda]   # build/lambda/baton-lambda.zip + report
    python -m infra.package verify [--out build/lambda]   # import it in a fresh virtual environment

Your own code goes in with `build --user-code PATH` (repeatable; a folder of modules, copied to
the package root, or an installable project or wheel, installed with its dependencies),
`--requirements FILE` (extra runtime requirements, resolved like baton's own) and
`--modules a,b` (the modules BATON_TASK_MODULES / BATON_ACTION_MODULES will list; `verify`
imports each of them in the fresh environment too). `make package USER_CODE=... REQUIREMENTS=...
USER_MODULES=...` passes them.

What goes in: the `baton.handler` and `baton.store` packages (`baton/handler/`,
`baton/store/` in the zip, `baton` a namespace package), and the project's runtime dependencies from
pyproject.toml less the CLI-only ones (typer, rich), resolved by pip for the runtime and the
architecture the SAM template declares (python3.13, arm64), wheels only, at the versions installed
in the environment that runs the build (the test venv). No dev tool, no CLI. Every module is
compiled to bytecode by an interpreter of the runtime's version (unchecked-hash pycs): Lambda's
/var/task is read-only, so a package without bytecode compiles all of its sources on every cold
start (import 1.5 s instead of 0.3 s). Without such an interpreter the build stops and says how to
get one, unless told to ship sources only (`--allow-no-bytecode`). `verify` reports the import
time of the handlers with and without that bytecode, next to the package's size: the package's
share of a cold start.

boto3 and botocore are bundled although the Lambda runtime ships its own copy: the runtime's SDK
lags the releases, changes under a function without a deploy, and pynamodb pins botocore
through its own dependency anyway. Bundling runs the exact versions the tests ran against (AWS
recommends the same); it costs about 15 MB unzipped and a little cold-start time, which a job
of hours does not notice.

`verify` creates a virtual environment without pip (so it holds nothing but the standard
library), puts the unzipped package on its path as Lambda puts /var/task, imports every module
of `baton.handler` and `baton.store` from there and runs
`baton.handler.app.lambda_handler` on a malformed event
(which needs no AWS). Distributions with compiled code (pydantic-core) are built for the target
architecture and cannot load on another one; for those alone the same versions are installed
for this machine and put ahead of the package on the path. Every Python file imported is the
package's own.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("build") / "lambda"
ZIP_NAME = "baton-lambda.zip"  # the template's Globals CodeUri points here
MANIFEST_NAME = "manifest.json"
# Installed package -> repository folder; the zip holds them under baton/.
CODE_PACKAGES = {"baton.handler": "handler", "baton.store": "store"}
NAMESPACE = "baton"
# Dependencies of the `baton` command only (the deploy's transform among them); the functions
# never import them.
CLI_ONLY = frozenset({"typer", "click", "rich", "aws-sam-translator", "pyyaml"})
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
MACHINES = {"arm64": ("aarch64", "arm64"), "x86_64": ("x86_64", "amd64")}
# Fixed timestamp for every zip entry, so the same inputs give the same bytes (and CodeSha256).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LambdaTarget:
    python_version: str  # "3.13"
    architecture: str  # "arm64"

    @property
    def platforms(self) -> tuple[str, ...]:
        return PLATFORMS[self.architecture]

    @property
    def native_here(self) -> bool:
        return platform.machine().lower() in MACHINES[self.architecture]


def lambda_target() -> LambdaTarget:
    """Runtime and architecture as the template's Globals declare them: one source of truth."""
    from .sam import load_template

    function = load_template()["Globals"]["Function"]
    runtime = function["Runtime"]
    match = re.fullmatch(r"python(3\.\d+)", runtime)
    if not match:
        raise SystemExit(f"template Globals.Function.Runtime must be pythonX.Y, got {runtime!r}")
    (architecture,) = function["Architectures"]
    return LambdaTarget(python_version=match.group(1), architecture=architecture)


def _requirement_name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"cannot read a package name in {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def runtime_requirements() -> list[str]:
    """baton's dependencies as installed (pyproject.toml's [project] dependencies, read from the
    installed distribution's metadata, so an installed baton builds without its repository),
    less the CLI-only ones and the extras."""
    declared = importlib.metadata.requires("baton") or []
    wanted = [r.split(";", 1)[0].strip() for r in declared if "extra ==" not in r]
    return [r for r in wanted if _requirement_name(r) not in CLI_ONLY]


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
    )


def tested_versions() -> list[str]:
    """`name==version` of every distribution in the environment running this (the test venv).

    Used as pip constraints, so the package holds the versions the test suite runs with rather
    than whatever is newest on the day of the build.
    """
    pins = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _requirement_name(name) != "baton":
            pins.add(f"{_requirement_name(name)}=={dist.version}")
    return sorted(pins)


def _copy_code(dest: Path) -> None:
    for package in CODE_PACKAGES:
        # Where the installed package lives: the repository's folder in an editable install,
        # site-packages in a wheel's.
        source = Path(importlib.import_module(package).__path__[0])
        shutil.copytree(
            source,
            dest.joinpath(*package.split(".")),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )


def _write_zip(source: Path, target: Path) -> None:
    """A deterministic zip: sorted entries, fixed times, files 0644 (read by Lambda's user)."""
    target.unlink(missing_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def distributions(tree: Path) -> dict[str, dict[str, Any]]:
    """name -> {version, pure, bytes} for each distribution pip installed into `tree`."""
    found: dict[str, dict[str, Any]] = {}
    for info in sorted(tree.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^Name: (.+)$", meta, re.M)
        version = re.search(r"^Version: (.+)$", meta, re.M)
        wheel = (info / "WHEEL").read_text(encoding="utf-8")
        size = 0
        record = info / "RECORD"
        if record.exists():
            for line in record.read_text(encoding="utf-8").splitlines():
                path = tree / line.split(",", 1)[0]
                if path.is_file():
                    size += path.stat().st_size
        assert name and version, f"no name or version in {info}"
        found[_requirement_name(name.group(1))] = {
            "version": version.group(1).strip(),
            "pure": "Root-Is-Purelib: true" in wheel,
            "bytes": size,
        }
    return found


def _installable(path: Path) -> bool:
    return (
        path.suffix == ".whl" or (path / "pyproject.toml").exists() or (path / "setup.py").exists()
    )


def _refuse_a_folder_holding(path: Path, out: Path) -> None:
    """A folder of modules that holds the build's own output would be copied into itself, one
    level deeper each time, until the path is too long (`--user-code .` or `--user-code ''`
    with the default `--out build/lambda`). Raises SystemExit naming both."""
    if not path.is_dir() or _installable(path):
        return
    folder, built = path.resolve(), out.resolve()
    if built == folder or folder in built.parents:
        raise SystemExit(
            f"--user-code {str(path) or '.'} holds the package's build folder {out}: pass the "
            f"folder of your modules alone, or build elsewhere (--out)"
        )


def _add_user_code(tree: Path, paths: list[Path], pip_target: list[str]) -> list[str]:
    """Copy folders of modules into the package root, install projects and wheels; return what
    was added (for the manifest). A user module may not shadow baton's own namespace (`baton`)."""
    added = []
    for path in paths:
        if not path.exists():
            raise SystemExit(f"--user-code {path} does not exist")
        if _installable(path):
            _pip("install", "--target", str(tree), *pip_target, str(path))
            if (tree / NAMESPACE).exists():
                # baton itself (`--user-code .` in baton's own checkout), or a project that
                # ships a `baton` package: the build copies baton's own code there next.
                raise SystemExit(
                    f"--user-code {str(path) or '.'} installs a package named {NAMESPACE!r}, "
                    f"which would replace baton's own: pass the project of your tasks"
                )
            added.append(f"installed {path}")
            continue
        if not path.is_dir():
            raise SystemExit(f"--user-code {path} is neither a folder, a project nor a wheel")
        for entry in sorted(path.iterdir()):
            skip = entry.name.startswith((".", "__pycache__", "test_")) or entry.name in (
                "tests",
                "conftest.py",
            )
            if skip:
                continue
            if NAMESPACE in (entry.name, entry.stem):
                raise SystemExit(f"--user-code {entry} would replace baton's own {entry.stem!r}")
            if entry.is_dir():
                shutil.copytree(
                    entry,
                    tree / entry.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    dirs_exist_ok=True,
                )
            elif entry.suffix == ".py":
                shutil.copy2(entry, tree / entry.name)
        added.append(f"copied {path}")
    return added


def build(
    out: Path = DEFAULT_OUT,
    user_code: list[Path] | None = None,
    requirements: Path | None = None,
    modules: tuple[str, ...] = (),
    *,
    allow_no_bytecode: bool = False,
) -> dict[str, Any]:
    """Build `out`/baton-lambda.zip (and the unzipped tree beside it); return the manifest.

    Raises NoBytecode (before installing anything) when no interpreter of the runtime's version
    is found and `allow_no_bytecode` is false.
    """
    target = lambda_target()
    if not allow_no_bytecode:
        require_python(target.python_version)
    for path in user_code or ():
        _refuse_a_folder_holding(path, out)
    tree = out / "package"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    platform_args = [arg for tag in target.platforms for arg in ("--platform", tag)]
    constraints = out / "constraints.txt"
    constraints.write_text("\n".join(tested_versions()) + "\n", encoding="utf-8")
    # Every install into the package: Lambda's platform and Python, wheels only, pinned to the
    # tested versions; the user's code and requirements go the same way, pinned where they
    # overlap with baton's.
    pip_target = [
        "--constraint",
        str(constraints),
        # --target installs beside, not into, this environment: its conflicts are not ours.
        "--no-warn-conflicts",
        *platform_args,
        "--implementation",
        "cp",
        "--python-version",
        target.python_version,
        "--only-binary=:all:",
        "--no-compile",
    ]
    _pip("install", "--target", str(tree), *pip_target, *runtime_requirements())
    if requirements is not None:
        _pip("install", "--target", str(tree), *pip_target, "--requirement", str(requirements))
    added = _add_user_code(tree, list(user_code or ()), pip_target)
    shutil.rmtree(tree / "bin", ignore_errors=True)  # console scripts: no use in Lambda
    _copy_code(tree)
    compiled_for = precompile(tree, target.python_version)
    archive = out / ZIP_NAME
    _write_zip(tree, archive)
    files = [p for p in tree.rglob("*") if p.is_file()]
    manifest = {
        "zip": str(archive),
        "python": target.python_version,
        "architecture": target.architecture,
        "zip_bytes": archive.stat().st_size,
        "unzipped_bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "bytecode": compiled_for,
        "distributions": distributions(tree),
        "user_code": added,
        "user_modules": list(modules),
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


class NoBytecode(SystemExit):
    """No interpreter of the Lambda runtime's version here: the package would compile its sources
    on every cold start."""


def require_python(version: str) -> str:
    """The interpreter that will compile the bytecode, or NoBytecode saying how to get one."""
    python, exact = find_python(version)
    if not exact:
        raise NoBytecode(
            f"no Python {version} found (tried $LAMBDA_PYTHON, python{version} on PATH, pyenv): "
            f"the Lambda package needs one to compile its bytecode, or every cold start compiles "
            f"the sources again (about 5 times slower to import). Install Python {version} (e.g. "
            f"`pyenv install {version}`) or set LAMBDA_PYTHON=/path/to/python{version}; to ship "
            f"sources only anyway, pass --allow-no-bytecode (make package ALLOW_NO_BYTECODE=1)."
        )
    return python


def precompile(tree: Path, version: str) -> str | None:
    """Compile every module to bytecode for the runtime's Python; the interpreter's version, or
    None when this machine has no interpreter of that version (bytecode is per version).

    Lambda's /var/task is read-only, so without this every cold start compiles the package's
    sources again. Unchecked-hash pycs are used without looking at the source's timestamp, which
    the zip's fixed entry times would not match anyway.
    """
    python, exact = find_python(version)
    if not exact:
        return None
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(tree),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return version


def report(manifest: dict[str, Any]) -> str:
    mib = 1024 * 1024
    dists = manifest["distributions"]
    biggest = sorted(dists.items(), key=lambda kv: -kv[1]["bytes"])[:6]
    lines = [
        f"{manifest['zip']}: {manifest['zip_bytes'] / mib:.1f} MiB zipped, "
        f"{manifest['unzipped_bytes'] / mib:.1f} MiB unzipped (Lambda allows 50 / 250), "
        f"{manifest['files']} files, python{manifest['python']} {manifest['architecture']}, "
        + (
            f"bytecode compiled for python{manifest['bytecode']}"
            if manifest.get("bytecode")
            else "no bytecode (no interpreter of the runtime's version here)"
        ),
        "largest: "
        + ", ".join(f"{name} {d['version']} {d['bytes'] / mib:.1f} MiB" for name, d in biggest),
        f"{len(dists)} distributions: "
        + " ".join(f"{name}=={d['version']}" for name, d in sorted(dists.items())),
    ]
    return "\n".join(lines)


def find_python(version: str) -> tuple[str, bool]:
    """An interpreter of the Lambda runtime's version if this machine has one, else this one.

    Looks at $LAMBDA_PYTHON, then pythonX.Y on PATH, then pyenv's versions. The second value
    says whether the version matches the runtime.
    """
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(
        glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True
    )
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate, True
    return sys.executable, False


# Runs inside the fresh virtual environment: stdlib only, the package on sys.path.
_CHECK = r"""
import importlib, json, os, pkgutil, sys
package = os.path.realpath(os.environ["BATON_PACKAGE_DIR"])
overlay = os.path.realpath(os.environ["BATON_NATIVE_DIR"])
imported = []
for top in ("baton.handler", "baton.store"):
    root = importlib.import_module(top)
    imported.append(top)
    for info in pkgutil.walk_packages(root.__path__, top + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
import baton.handler.app
user_modules = [m for m in os.environ.get("BATON_USER_MODULES", "").split(",") if m]
for name in user_modules:
    importlib.import_module(name)
    imported.append(name)

class Context:
    function_name = "baton-worker"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:baton-worker"
    memory_limit_in_mb = 1024
    aws_request_id = "package-check"
    log_group_name = "/aws/lambda/baton-worker"
    log_stream_name = "package-check"
    def get_remaining_time_in_millis(self):
        return 900_000

result = baton.handler.app.lambda_handler({"not": "a relay event"}, Context())
assert result["outcome"] == "rejected", result
outside = sorted(
    name for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None)
    and not os.path.realpath(mod.__file__).startswith((package + os.sep, overlay + os.sep,
                                                       os.path.realpath(sys.base_prefix)))
)
assert not outside, f"modules loaded from outside the package: {outside}"
for forbidden in ("baton.cli", "baton.local", "typer", "rich", "moto", "pytest"):
    assert forbidden not in sys.modules, forbidden
print("BATON-CHECK " + json.dumps({
    "python": sys.version.split()[0], "modules": len(imported), "outcome": result["outcome"],
    "loaded": len(sys.modules), "user_modules": user_modules,
}))
"""


_IMPORT = r"""
import time
started = time.perf_counter()
import baton.handler.app, baton.handler.watchdog
print("BATON-IMPORT-MS %.1f" % ((time.perf_counter() - started) * 1000))
"""


def import_time_ms(python: str, env: dict[str, str], cwd: Path, runs: int = 3) -> float:
    """The median time a fresh interpreter takes to import the two handlers: a cold start's
    share that the package decides (the runtime's own start is not counted)."""
    times = []
    for _ in range(runs):
        proc = subprocess.run(
            [python, "-c", _IMPORT], cwd=cwd, env=env, capture_output=True, text=True, check=True
        )
        line = next(x for x in proc.stdout.splitlines() if x.startswith("BATON-IMPORT-MS "))
        times.append(float(line.split()[1]))
    return sorted(times)[len(times) // 2]


def verify(out: Path = DEFAULT_OUT) -> dict[str, Any]:
    """Import the built package in a fresh virtual environment; return what the check saw."""
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    target = lambda_target()
    python, exact = find_python(target.python_version)
    with tempfile.TemporaryDirectory(prefix="baton-package-check-") as tmp:
        work = Path(tmp)
        package = work / "task"  # as Lambda's /var/task
        with zipfile.ZipFile(manifest["zip"]) as zf:
            zf.extractall(package)
        native = work / "native"
        native.mkdir()
        compiled = {n: d for n, d in manifest["distributions"].items() if not d["pure"]}
        if compiled and not target.native_here:
            py = subprocess.run(
                [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            _pip(
                "install",
                "--target",
                str(native),
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                py,
                "--implementation",
                "cp",
                *(f"{name}=={d['version']}" for name, d in sorted(compiled.items())),
            )
        venv = work / "venv"
        subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{native}{os.pathsep}{package}",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "BATON_PACKAGE_DIR": str(package),
            "BATON_NATIVE_DIR": str(native),
            "BATON_USER_MODULES": ",".join(manifest.get("user_modules", [])),
            "AWS_REGION": "us-east-1",
            # Any AWS call would be a bug here: send it nowhere, fast.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "POWERTOOLS_SERVICE_NAME": "baton",
            "POWERTOOLS_METRICS_NAMESPACE": "Baton",
        }
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-c", _CHECK],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"package check failed:\n{proc.stdout}\n{proc.stderr}")
        line = next(x for x in proc.stdout.splitlines() if x.startswith("BATON-CHECK "))
        seen: dict[str, Any] = json.loads(line.removeprefix("BATON-CHECK "))
        python_in_venv = str(venv / "bin" / "python")
        seen["import_ms"] = import_time_ms(python_in_venv, env, work)
        # The same import with the package's bytecode out of reach (a cache prefix that holds
        # nothing, and nothing written there): what a cold start costs without it.
        no_bytecode = {**env, "PYTHONPYCACHEPREFIX": str(work / "empty-pycache")}
        seen["import_ms_without_bytecode"] = import_time_ms(python_in_venv, no_bytecode, work)
    seen.update(
        interpreter=python,
        runtime_version_matched=exact,
        native_overlay=sorted(compiled) if compiled and not target.native_here else [],
    )
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__)
    parser.add_argument("command", choices=["build", "verify"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--user-code", type=Path, action="append", default=[])
    parser.add_argument("--requirements", type=Path)
    parser.add_argument("--modules", default="", help="comma-separated modules verify imports")
    parser.add_argument(
        "--allow-no-bytecode",
        action="store_true",
        help="without a Python of the runtime's version, ship sources only (slow cold starts)",
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        modules = tuple(m.strip() for m in args.modules.split(",") if m.strip())
        manifest = build(
            args.out,
            args.user_code,
            args.requirements,
            modules,
            allow_no_bytecode=args.allow_no_bytecode,
        )
        print(report(manifest))
        return 0
    seen = verify(args.out)
    note = "" if seen["runtime_version_matched"] else " (not the runtime's version: none found)"
    overlay = (
        f"; this machine's builds of {', '.join(seen['native_overlay'])} stood in for the "
        "package's compiled code"
        if seen["native_overlay"]
        else ""
    )
    print(
        f"package imports cleanly: {seen['modules']} modules of handler and store imported and "
        f"the handler ran (outcome {seen['outcome']}) in a fresh venv with Python "
        f"{seen['python']}{note}{overlay}"
        + (
            f"; your modules imported: {', '.join(seen['user_modules'])}"
            if seen.get("user_modules")
            else ""
        )
    )
    manifest = json.loads((args.out / MANIFEST_NAME).read_text(encoding="utf-8"))
    print(
        f"cold start proxy: importing the handlers takes {seen['import_ms']:.0f} ms "
        f"({seen['import_ms_without_bytecode']:.0f} ms without the bytecode); package "
        f"{manifest['zip_bytes'] / 1024 / 1024:.1f} MiB zipped, "
        f"{manifest['unzipped_bytes'] / 1024 / 1024:.1f} MiB unzipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
