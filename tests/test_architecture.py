"""The package dependencies follow the contract in pyproject.toml, with no import circles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import architecture

PACKAGES = ("store", "handler", "local", "cli", "benchmarks", "infra")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's packages, contract and docs, to plant imports in."""
    for name in PACKAGES:
        shutil.copytree(architecture.ROOT / name, tmp_path / name)
    shutil.copy(architecture.ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "docs").mkdir()
    shutil.copy(architecture.ROOT / architecture.DOC, tmp_path / architecture.DOC)
    return tmp_path


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_tree_follows_the_contract_and_the_docs_draw_it() -> None:
    assert architecture.check() == []
    assert architecture.doc_is_current()


def test_a_store_module_importing_the_handler_is_refused(tree: Path) -> None:
    _plant(tree / "store" / "codec.py", "from baton.handler.relay import Relay")
    breaches = [p for p in architecture.check(tree) if not p.startswith("import circle")]
    assert len(breaches) == 1
    assert "baton.store may not import baton.handler" in breaches[0]
    assert "store/codec.py" in breaches[0]


def test_a_lazy_handler_import_of_the_cli_is_refused(tree: Path) -> None:
    _plant(tree / "handler" / "relay.py", "def _f() -> None:\n    import baton.cli.main  # noqa")
    problems = architecture.check(tree)
    assert any("baton.handler may not import baton.cli" in p for p in problems)


def test_an_import_circle_is_found_even_under_type_checking(tree: Path) -> None:
    _plant(
        tree / "store" / "constants.py",
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from baton.store.job_store import JobStore",
    )
    problems = architecture.check(tree)
    assert any(p.startswith("import circle: baton.store.constants -> ") for p in problems)


def test_a_contract_naming_an_unknown_package_is_an_error(tree: Path) -> None:
    text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    (tree / "pyproject.toml").write_text(
        text.replace('= ["baton.store"]', '= ["baton.store", "stor"]'), encoding="utf-8"
    )
    with pytest.raises(ValueError, match="unknown packages"):
        architecture.check(tree)


def test_a_changed_contract_makes_the_drawn_diagram_stale_until_redrawn(tree: Path) -> None:
    text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    (tree / "pyproject.toml").write_text(
        text.replace('"baton.infra" = []', '"baton.infra" = ["baton.store"]'), encoding="utf-8"
    )
    assert not architecture.doc_is_current(tree)
    architecture.write_doc(tree)
    assert architecture.doc_is_current(tree)
    assert 'baton_infra["baton.infra"] --> baton_store["baton.store"]' in (
        tree / architecture.DOC
    ).read_text(encoding="utf-8")


def test_an_import_by_folder_name_is_refused(tree: Path) -> None:
    """`handler` resolves only from a checkout; installed, the package is `baton.handler`."""
    folder = "handler"  # a bare name in a variable, so the namespace rewrite leaves it alone
    _plant(tree / "cli" / "main.py", f"import {folder}.relay  # noqa")
    problems = architecture.check(tree)
    wanted = f"imports {folder}.relay, which installs as baton.handler.relay"
    assert any(wanted in p for p in problems), problems


def test_a_package_folder_missing_from_the_setuptools_list_is_refused(tree: Path) -> None:
    (tree / "store" / "extra").mkdir()
    (tree / "store" / "extra" / "__init__.py").write_text("", encoding="utf-8")
    problems = architecture.check(tree)
    assert any("does not list baton.store.extra" in p for p in problems)


def test_a_builtin_task_importing_past_the_public_api_is_refused(tree: Path) -> None:
    """baton's own tasks are written on baton.handler.api alone, as a user's task is."""
    task = tree / "handler" / "tasks" / "builtin" / "s3_lines.py"
    _plant(task, "from baton.handler.tasks.kit.item_errors import ItemErrors  # noqa")
    _plant(task, "def _f() -> None:\n    from baton.handler import relay  # noqa")
    problems = [p for p in architecture.check(tree) if not p.startswith("import circle")]
    assert [p.split(": ", 1)[1] for p in problems] == [
        "baton.handler.tasks.builtin.s3_lines imports baton.handler.tasks.kit.item_errors; "
        "baton.handler.tasks.builtin may import, of the project, only its own modules and "
        "baton.handler.api",
        "baton.handler.tasks.builtin.s3_lines imports baton.handler.relay; "
        "baton.handler.tasks.builtin may import, of the project, only its own modules and "
        "baton.handler.api",
    ]
    assert all("handler/tasks/builtin/s3_lines.py:" in p for p in problems)


def test_a_builtin_task_may_import_the_api_and_the_other_builtin_tasks(tree: Path) -> None:
    task = tree / "handler" / "tasks" / "builtin" / "s3_lines.py"
    _plant(task, "from baton.handler.api import ItemErrors  # noqa")
    _plant(task, "from baton.handler.tasks.builtin import s3_walk  # noqa")
    _plant(task, "from . import dynamodb_scan  # noqa")
    _plant(task, "import boto3  # noqa")
    assert architecture.check(tree) == []


def test_an_only_rule_naming_an_unknown_module_is_an_error(tree: Path) -> None:
    text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    (tree / "pyproject.toml").write_text(
        text.replace('= ["baton.handler.api"]', '= ["baton.handler.apis"]'), encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"unknown modules \['baton.handler.apis'\]"):
        architecture.check(tree)


def _function_of(lines: int) -> str:
    """A function whose `def` line to its last line spans `lines` lines."""
    return "def long() -> int:\n" + "    x = 0\n" * (lines - 2) + "    return x\n"


def test_a_function_over_the_size_limit_is_reported_wherever_it_is(tree: Path) -> None:
    limit = architecture.MAX_FUNCTION_LINES
    (tree / "tests" / "sim").mkdir(parents=True)
    (tree / "tests" / "sim" / "huge.py").write_text(_function_of(limit + 1), encoding="utf-8")
    (tree / "benchmarks" / "fits.py").write_text(_function_of(limit), encoding="utf-8")
    (tree / ".venv").mkdir()
    (tree / ".venv" / "vendored.py").write_text(_function_of(limit + 50), encoding="utf-8")
    problems = architecture.long_functions(tree)
    assert problems == [
        f"tests/sim/huge.py:1: long is {limit + 1} lines (at most {limit}): "
        "split it into functions that each do one thing"
    ]
    assert problems[0] in architecture.check(tree)


def test_the_product_folders_hold_functions_to_80_lines_and_classes_to_400(tree: Path) -> None:
    short, most_class = architecture.MAX_PRODUCT_FUNCTION_LINES, architecture.MAX_CLASS_LINES
    (tree / "store" / "long_function.py").write_text(_function_of(short + 1), encoding="utf-8")
    (tree / "store" / "fits.py").write_text(_function_of(short), encoding="utf-8")
    body = "".join(f"    a{i} = {i}\n" for i in range(most_class))
    (tree / "handler" / "big_class.py").write_text(f"class Big:\n{body}", encoding="utf-8")
    (tree / "benchmarks" / "big_class.py").write_text(f"class Big:\n{body}", encoding="utf-8")
    problems = architecture.long_functions(tree)
    assert problems == [
        f"handler/big_class.py:1: Big is {most_class + 1} lines (at most {most_class}): "
        "move a role of it into a class of its own",
        f"store/long_function.py:1: long is {short + 1} lines (at most {short}): "
        "split it into functions that each do one thing",
    ]
