"""The building blocks tasks are made of; a task reaches them through `baton.handler.api`."""
