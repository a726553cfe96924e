"""Tasks: small resumable units of work driven by the relay loop.

Three packages, by what their modules are for:

- `framework`: what runs a task (the `Task` interface and its step context, the pool a hop runs
  work on, the registry of task names and the catalog that finds the task a job names);
- `kit`: the building blocks tasks are made of (S3 listing, ranged reads, S3 Inventory reports,
  the per-object action, the `on_error` rule, child jobs), reached through `baton.handler.api`;
- `builtin`: baton's own tasks, one module per task, named after it, written on
  `baton.handler.api` alone as a user's task is (`make lint` holds them to it).
"""
