"""The task registry: task names a job may name, and their classes.

Two kinds of task live here. Baton's own (listed in the catalog, `catalog.py`, which also
answers "which task does this job name") are always startable. A user's task is registered with
`register_task` by a module the deployment lists in BATON_TASK_MODULES; a job may name it only
while its module is listed. The worker, the CLI and the local stack import exactly the listed
modules and nothing else, so a job never names code the deployment does not allow.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from baton.handler.tasks.framework.base import Task
from baton.store.errors import InvalidJob

TASKS: dict[str, type[Task]] = {}
# The listed module whose import registered each user task (None: baton's own task).
ORIGIN: dict[str, str | None] = {}
_loading: list[str] = []
_imported: set[str] = set()


def _add(task: type[Task], origin: str | None) -> type[Task]:
    name = getattr(task, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{task.__qualname__} needs a class attribute `name`: the task's name")
    if name in TASKS and TASKS[name] is not task:
        raise ValueError(f"task {name!r} is registered already (by {TASKS[name].__module__})")
    TASKS[name] = task
    ORIGIN.setdefault(name, origin)
    return task


def register(task: type[Task]) -> type[Task]:
    """Add one of baton's own tasks (usable as a decorator): startable without any listing."""
    return _add(task, None)


def register_task(task: type[Task]) -> type[Task]:
    """Make a user's task startable by its `name` (usable as a decorator).

    Call it at import time of a module listed in BATON_TASK_MODULES: jobs may name the task only
    while that module stays listed.
    """
    return _add(task, _loading[-1] if _loading else task.__module__)


def load_task_modules(modules: Iterable[str]) -> None:
    """Import the listed task modules once each; a module that fails to import is an error."""
    for module in modules:
        if module in _imported:
            continue
        _loading.append(module)
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise InvalidJob(
                f"task module {module!r} (listed in BATON_TASK_MODULES) cannot be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _loading.pop()
        _imported.add(module)


def listed(origin: str, modules: tuple[str, ...]) -> bool:
    return any(origin == m or origin.startswith(m + ".") for m in modules)
