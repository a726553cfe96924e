"""Powertools Logger and Metrics, made once per process and shared by the handler modules."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="baton")
metrics = Metrics(namespace="Baton", service="baton")


def count(name: str, value: float = 1) -> None:
    """Add to a count metric, flushed as one EMF document when the invocation ends."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
