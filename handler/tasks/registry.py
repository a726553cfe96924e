"""The task registry: task names a job may name, and their classes."""

from __future__ import annotations

from handler.tasks.base import Task
from handler.tasks.fanout import FanOut
from handler.tasks.manifest_walk import ManifestWalk
from handler.tasks.s3_lines import S3Lines
from handler.tasks.s3_walk import S3Walk
from store.errors import InvalidJob

TASKS: dict[str, type[Task]] = {task.name: task for task in (S3Walk, FanOut, ManifestWalk, S3Lines)}


def register(task: type[Task]) -> type[Task]:
    """Add a task class (usable as a decorator); a name can be registered once."""
    if task.name in TASKS and TASKS[task.name] is not task:
        raise ValueError(f"task {task.name!r} is registered already")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> type[Task]:
    try:
        return TASKS[name]
    except KeyError:
        raise InvalidJob(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}"
        ) from None
