"""baton's own tasks, one module per task and named after it, written on `baton.handler.api`."""
