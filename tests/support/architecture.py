"""The architecture as a test: which of the project's packages may import which.

The contract is written once, in pyproject.toml under `[tool.baton.architecture]`: each package
names the packages it may import. This module reads it, finds every import in the tree (module
level, inside functions, and under `TYPE_CHECKING`, since all of them are dependencies a reader
must follow), and reports imports the contract forbids and import circles between modules. A
package may also be held to a few modules (`[tool.baton.architecture.only]`: baton's built-in
tasks import only the public task API). It also draws the contract as the Mermaid diagram in
docs/architecture.md, so the picture cannot drift.
And it holds size rules: no function anywhere in the project (product, tests, benchmarks,
examples, infra) is longer than `MAX_FUNCTION_LINES`, and in the product's runtime folders
(`PRODUCT_FOLDERS`) no function is longer than `MAX_PRODUCT_FUNCTION_LINES` and no class longer
than `MAX_CLASS_LINES`, since code a reader cannot hold in one view is where the next change goes
wrong.

    python -m tests.support.architecture            # check the tree and the diagram
    python -m tests.support.architecture --write    # redraw the diagram in docs/architecture.md
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = Path("docs/architecture.md")
BEGIN = "<!-- architecture:begin -->"
END = "<!-- architecture:end -->"

Contract = Mapping[str, tuple[str, ...]]
# The sub-table of [tool.baton.architecture] that holds packages to a few modules.
ONLY = "only"

# The longest function, in lines from its `def` (decorators excluded) to its last line.
MAX_FUNCTION_LINES = 150
# The folders of what runs on AWS or for the operator, held to tighter limits.
PRODUCT_FOLDERS = ("handler", "store", "cli", "local")
MAX_PRODUCT_FUNCTION_LINES = 80
MAX_CLASS_LINES = 400
# Folders that are no part of the project's source: environments, caches, build output.
NOT_SOURCE = {"build", "node_modules", "__pycache__"}


def package_dirs(root: Path = ROOT) -> dict[str, str]:
    """Installed package -> repository folder (pyproject's [tool.setuptools] package-dir)."""
    with (root / "pyproject.toml").open("rb") as f:
        table = tomllib.load(f).get("tool", {}).get("setuptools", {})
    return dict(table.get("package-dir", {}))


def folder_of(package: str, root: Path = ROOT) -> Path:
    """Where a contract package's files are: its mapped folder, else its own name."""
    return root / package_dirs(root).get(package, package.replace(".", "/"))


@dataclass(frozen=True)
class Import:
    """One import statement: the module that imports, the module it names, and where."""

    importer: str
    imported: str
    path: Path
    line: int


def load_contract(root: Path = ROOT) -> dict[str, tuple[str, ...]]:
    """The allowed dependencies from pyproject.toml, checked for names that are not packages."""
    with (root / "pyproject.toml").open("rb") as f:
        table = tomllib.load(f)["tool"]["baton"]["architecture"]
    contract = {name: tuple(allowed) for name, allowed in table.items() if name != ONLY}
    for name, allowed in contract.items():
        unknown = [a for a in allowed if a not in contract]
        if unknown:
            raise ValueError(f"[tool.baton.architecture] {name} allows unknown packages {unknown}")
    return contract


def load_only(root: Path = ROOT) -> dict[str, tuple[str, ...]]:
    """`[tool.baton.architecture.only]`: package -> the only other project modules it may import.

    Raises:
        ValueError: a package or module it names is none of the project's.
    """
    with (root / "pyproject.toml").open("rb") as f:
        table = tomllib.load(f)["tool"]["baton"]["architecture"].get(ONLY, {})
    rules = {name: tuple(allowed) for name, allowed in table.items()}
    modules = all_modules(root, load_contract(root))
    for name, allowed in rules.items():
        unknown = [m for m in (name, *allowed) if m not in modules]
        if unknown:
            raise ValueError(f"[tool.baton.architecture.{ONLY}] names unknown modules {unknown}")
    return rules


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def outside_only(imports: list[Import], rules: Contract, contract: Contract) -> list[str]:
    """Imports of project modules by a held package that name neither its own modules nor one
    it is allowed (a package on the way to one, `baton.handler` of `baton.handler.api`, is no
    breach: `from baton.handler import relay` is caught by its second name)."""
    problems = []
    seen: set[tuple[Path, int]] = set()
    for imp in imports:
        for package, allowed in rules.items():
            target = imp.imported
            if not _within(imp.importer, package) or owner(target, contract) not in contract:
                continue
            reachable = (package, *allowed)
            if any(_within(target, m) or _within(m, target) for m in reachable):
                continue
            if (imp.path, imp.line) not in seen:
                seen.add((imp.path, imp.line))
                problems.append(
                    f"{imp.path}:{imp.line}: {imp.importer} imports {imp.imported}; {package} "
                    f"may import, of the project, only its own modules and {', '.join(allowed)}"
                )
    return problems


def module_name(path: Path, root: Path) -> str:
    """The name a file imports as: a mapped folder's files under the installed package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    for package, folder in package_dirs(root).items():
        if tuple(parts[: len(Path(folder).parts)]) == Path(folder).parts:
            parts = [*package.split("."), *parts[len(Path(folder).parts) :]]
            break
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against the importer)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def imports_in(path: Path, root: Path) -> Iterator[Import]:
    """Every import in one file, wherever it stands in the file."""
    importer = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, importer, is_package)
            yield Import(importer, module, path, node.lineno)
            # `from pkg import mod` names a module when mod is one: follow it for circles.
            for alias in node.names:
                yield Import(importer, f"{module}.{alias.name}", path, node.lineno)


def project_imports(root: Path, contract: Contract) -> list[Import]:
    found: list[Import] = []
    for package in contract:
        for path in sorted(folder_of(package, root).rglob("*.py")):
            found.extend(imports_in(path, root))
    return found


def owner(module: str, contract: Contract) -> str:
    """The contract package a module belongs to (the longest matching name), or its top."""
    matches = [p for p in contract if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else module.partition(".")[0]


def bare_folder_imports(imports: list[Import], root: Path = ROOT) -> list[str]:
    """Imports of a mapped folder by its folder name: it only resolves from a checkout."""
    renamed = {folder: package for package, folder in package_dirs(root).items()}
    problems = []
    for imp in imports:
        top, _, rest = imp.imported.partition(".")
        if top in renamed and not imp.imported.startswith(f"{imp.importer}."):
            wanted = renamed[top] + ("." + rest if rest else "")
            problem = (
                f"{imp.path}:{imp.line}: {imp.importer} imports {imp.imported}, which installs "
                f"as {wanted} (the folder {top}/ is the package {renamed[top]})"
            )
            if problem not in problems:
                problems.append(problem)
    return problems


def unlisted_packages(root: Path = ROOT) -> list[str]:
    """Mapped folders with an __init__.py that pyproject does not list: a wheel leaves them out."""
    with (root / "pyproject.toml").open("rb") as f:
        listed = set(tomllib.load(f).get("tool", {}).get("setuptools", {}).get("packages", []))
    problems = []
    for package, folder in package_dirs(root).items():
        for init in sorted((root / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(root / folder).parts
            name = ".".join([package, *rel])
            if "__pycache__" not in rel and name not in listed:
                problems.append(
                    f"pyproject.toml [tool.setuptools] packages does not list {name} "
                    f"({init.parent.relative_to(root)}/): a wheel would leave it out"
                )
    return problems


def forbidden(imports: list[Import], contract: Contract) -> list[str]:
    """Imports of one project package by another that the contract does not allow."""
    problems = []
    seen: set[tuple[Path, int]] = set()
    for imp in imports:
        source = owner(imp.importer, contract)
        target = owner(imp.imported, contract)
        if (imp.path, imp.line) in seen:
            continue  # one statement, one finding (`from a import b` is also read as `a.b`)
        if target in contract and target != source and target not in contract[source]:
            seen.add((imp.path, imp.line))
            allowed = ", ".join(contract[source]) or "no other project package"
            problems.append(
                f"{imp.path}:{imp.line}: {source} may not import {target} "
                f"({imp.importer} imports {imp.imported}; {source} may import {allowed})"
            )
    return problems


def circles(imports: list[Import], modules: set[str]) -> list[list[str]]:
    """Import circles between the project's modules (each reported once, shortest first)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        target = imp.imported
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != imp.importer and not imp.importer.startswith(target + "."):
            graph[imp.importer].add(target)
    found: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        # Shortest circle through `start`, by breadth-first search back to it.
        paths: dict[str, list[str]] = {start: [start]}
        frontier = [start]
        while frontier:
            nxt = []
            for node in frontier:
                for target in sorted(graph[node]):
                    if target == start:
                        cycle = paths[node]
                        found.setdefault(frozenset(cycle), cycle)
                    elif target not in paths:
                        paths[target] = [*paths[node], target]
                        nxt.append(target)
            frontier = nxt
    return sorted(found.values(), key=lambda c: (len(c), c))


def all_modules(root: Path, contract: Contract) -> set[str]:
    return {
        module_name(path, root)
        for package in contract
        for path in folder_of(package, root).rglob("*.py")
    }


def source_files(root: Path = ROOT) -> Iterator[Path]:
    """Every Python file of the project, skipping hidden folders (.venv, .git) and build output."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if not any(p.startswith(".") or p in NOT_SOURCE or p.endswith(".egg-info") for p in parts):
            yield path


def _span(node: ast.AST) -> int:
    return (getattr(node, "end_lineno", None) or node.lineno) - node.lineno + 1  # type: ignore[attr-defined]


def long_functions(root: Path = ROOT, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions longer than `limit` lines anywhere in the project; in `PRODUCT_FOLDERS`, functions
    over MAX_PRODUCT_FUNCTION_LINES and classes over MAX_CLASS_LINES."""
    problems = []
    for path in source_files(root):
        where = path.relative_to(root)
        product = where.parts[0] in PRODUCT_FOLDERS
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                most = min(limit, MAX_PRODUCT_FUNCTION_LINES) if product else limit
                hint = "split it into functions that each do one thing"
            elif isinstance(node, ast.ClassDef) and product:
                most, hint = MAX_CLASS_LINES, "move a role of it into a class of its own"
            else:
                continue
            lines = _span(node)
            if lines > most:
                problems.append(
                    f"{where}:{node.lineno}: {node.name} is {lines} lines (at most {most}): {hint}"
                )
    return problems


def check(root: Path = ROOT) -> list[str]:
    """Every breach of the contract and every import circle, as readable lines (empty: clean)."""
    contract = load_contract(root)
    imports = project_imports(root, contract)
    problems = forbidden(imports, contract)
    problems += outside_only(imports, load_only(root), contract)
    problems += bare_folder_imports(imports, root)
    problems += unlisted_packages(root)
    problems += long_functions(root)
    for cycle in circles(imports, all_modules(root, contract)):
        problems.append("import circle: " + " -> ".join([*cycle, cycle[0]]))
    return problems


def diagram(contract: Contract) -> str:
    """The contract as a Mermaid flowchart: an arrow for each allowed dependency."""
    lines = ["```mermaid", "flowchart TD"]
    for name in contract:
        lines.extend(f"    {_node(name)} --> {_node(target)}" for target in contract[name])
    isolated = [
        n for n in contract if not contract[n] and not any(n in a for a in contract.values())
    ]
    lines.extend(f"    {_node(name)}" for name in isolated)
    lines.append("```")
    return "\n".join(lines)


def _node(name: str) -> str:
    """A Mermaid node: a dotted package name needs an id without dots and a label."""
    return name if name.isidentifier() else f'{name.replace(".", "_")}["{name}"]'


def drawn_block(root: Path = ROOT) -> str:
    return f"{BEGIN}\n{diagram(load_contract(root))}\n{END}"


def doc_is_current(root: Path = ROOT) -> bool:
    return drawn_block(root) in (root / DOC).read_text(encoding="utf-8")


def write_doc(root: Path = ROOT) -> None:
    path = root / DOC
    text = path.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        raise SystemExit(f"{DOC} has no {BEGIN!r} ... {END!r} block to draw into")
    path.write_text(text[:start] + drawn_block(root) + text[end + len(END) :], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="redraw the diagram in the docs")
    args = parser.parse_args(argv)
    if args.write:
        write_doc()
    problems = check()
    if not doc_is_current():
        problems.append(f"{DOC} does not show the contract: run python -m {__spec__.name} --write")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(
            "architecture: every import follows [tool.baton.architecture] and its "
            f"{ONLY!r} rules; no import circles; "
            f"no function over {MAX_FUNCTION_LINES} lines, none over {MAX_PRODUCT_FUNCTION_LINES} "
            f"and no class over {MAX_CLASS_LINES} in {', '.join(PRODUCT_FOLDERS)}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
