"""The building blocks tasks are made of; a task reaches them through `baton.handler.api`.

The API imports these modules, so they import the framework, the actions and the parameters
directly, never the API (`make lint` would report the circle).
"""
