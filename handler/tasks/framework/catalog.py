"""Which task a job names: baton's own tasks and the listed users' tasks, by name.

Kept apart from the registry because baton's own tasks (`builtin/`) are written on the public
API (baton.handler.api), which re-exports `register_task` from the registry: the catalog imports
the tasks, the tasks import the API, the API imports the registry, and nothing imports back.
"""

from __future__ import annotations

from baton.handler.tasks.builtin.dynamodb_scan import DynamoDBScan
from baton.handler.tasks.builtin.s3_fanout import FanOut
from baton.handler.tasks.builtin.s3_lines import S3Lines
from baton.handler.tasks.builtin.s3_manifest import ManifestWalk
from baton.handler.tasks.builtin.s3_walk import S3Walk
from baton.handler.tasks.framework.base import Task
from baton.handler.tasks.framework.registry import (
    ORIGIN,
    TASKS,
    listed,
    load_task_modules,
    register,
)
from baton.store.errors import InvalidJob

BUILTIN_TASKS: tuple[type[Task], ...] = (S3Walk, FanOut, DynamoDBScan, ManifestWalk, S3Lines)
for _task in BUILTIN_TASKS:
    register(_task)


def known_tasks(task_modules: tuple[str, ...] = ()) -> list[str]:
    """The names a job may use under this listing."""
    return sorted(
        name for name, origin in ORIGIN.items() if origin is None or listed(origin, task_modules)
    )


def find_task(name: str) -> type[Task] | None:
    """The class registered under `name` in this process, if any (for display only)."""
    return TASKS.get(name)


def get_task(name: str, task_modules: tuple[str, ...] = ()) -> type[Task]:
    """The task a job names, if this deployment allows it; InvalidJob with the reason if not."""
    load_task_modules(task_modules)
    task = TASKS.get(name)
    listing = ", ".join(task_modules) or "nothing"
    if task is None:
        raise InvalidJob(
            f"unknown task {name!r}; known tasks: {', '.join(known_tasks(task_modules))}. "
            f"A task of your own is found only in the modules BATON_TASK_MODULES lists "
            f"(it lists {listing})"
        )
    origin = ORIGIN.get(name)
    if origin is not None and not listed(origin, task_modules):
        raise InvalidJob(
            f"task {name!r} comes from module {origin!r}, which BATON_TASK_MODULES does not "
            f"list (it lists {listing}); add the module to BATON_TASK_MODULES to allow it"
        )
    return task
