"""The worked example in examples/ runs in the suite: its own test, loaded from its folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "primes"


def test_the_primes_example_runs_on_the_local_stack() -> None:
    spec = importlib.util.spec_from_file_location("primes_example_test", EXAMPLE / "test_primes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_count_primes_below_200_000_through_kills_and_duplicates()


def test_the_example_task_is_under_50_lines() -> None:
    lines = (EXAMPLE / "primes_task.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 50
