"""The task registry: task names a job may name, and their classes.

Two kinds of task live here. Baton's own (s3-walk, s3-fanout, dynamodb-scan) are always
startable. A user's task is registered with `register_task` by a module the deployment lists in
BATON_TASK_MODULES; a job may name it only while its module is listed. The worker, the CLI and
the local stack import exactly the listed modules and nothing else, so a job never names code
the deployment does not allow.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from handler.tasks.base import Task
from store.errors import InvalidJob

TASKS: dict[str, type[Task]] = {}
# The listed module whose import registered each user task (None: baton's own task).
_ORIGIN: dict[str, str | None] = {}
_loading: list[str] = []
_imported: set[str] = set()
_builtins_loaded = False


def _add(task: type[Task], origin: str | None) -> type[Task]:
    name = getattr(task, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{task.__qualname__} needs a class attribute `name`: the task's name")
    if name in TASKS and TASKS[name] is not task:
        raise ValueError(f"task {name!r} is registered already (by {TASKS[name].__module__})")
    TASKS[name] = task
    _ORIGIN.setdefault(name, origin)
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


def _ensure_builtins() -> None:
    global _builtins_loaded  # noqa: PLW0603 - imported on first use: they import this module
    if _builtins_loaded:
        return
    from handler.tasks.dynamodb_scan import DynamoDBScan
    from handler.tasks.fanout import FanOut
    from handler.tasks.manifest_walk import ManifestWalk
    from handler.tasks.s3_lines import S3Lines
    from handler.tasks.s3_walk import S3Walk

    for task in (S3Walk, FanOut, DynamoDBScan, ManifestWalk, S3Lines):
        register(task)
    _builtins_loaded = True


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


def _listed(origin: str, modules: tuple[str, ...]) -> bool:
    return any(origin == m or origin.startswith(m + ".") for m in modules)


def known_tasks(task_modules: tuple[str, ...] = ()) -> list[str]:
    """The names a job may use under this listing."""
    _ensure_builtins()
    return sorted(
        name for name, origin in _ORIGIN.items() if origin is None or _listed(origin, task_modules)
    )


def find_task(name: str) -> type[Task] | None:
    """The class registered under `name` in this process, if any (for display only)."""
    _ensure_builtins()
    return TASKS.get(name)


def get_task(name: str, task_modules: tuple[str, ...] = ()) -> type[Task]:
    """The task a job names, if this deployment allows it; InvalidJob with the reason if not."""
    _ensure_builtins()
    load_task_modules(task_modules)
    task = TASKS.get(name)
    listing = ", ".join(task_modules) or "nothing"
    if task is None:
        raise InvalidJob(
            f"unknown task {name!r}; known tasks: {', '.join(known_tasks(task_modules))}. "
            f"A task of your own is found only in the modules BATON_TASK_MODULES lists "
            f"(it lists {listing})"
        )
    origin = _ORIGIN.get(name)
    if origin is not None and not _listed(origin, task_modules):
        raise InvalidJob(
            f"task {name!r} comes from module {origin!r}, which BATON_TASK_MODULES does not "
            f"list (it lists {listing}); add the module to BATON_TASK_MODULES to allow it"
        )
    return task
