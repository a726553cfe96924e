"""Shared fixtures. No test may reach AWS: credentials are dummies and moto intercepts calls."""

from __future__ import annotations

import os

import pytest

from baton.local.aws_server import fast_answers

# BATON_SLOW_TESTS chooses which tests run; it is no setting of baton's, so it is kept.
KEPT = ("BATON_SLOW_TESTS",)
for _name in list(os.environ):
    if _name in KEPT:
        continue
    if _name.startswith(("AWS_ENDPOINT_URL", "BATON_")) or _name in ("AWS_PROFILE",):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="BatonTest",
    POWERTOOLS_LOG_LEVEL="WARNING",
)


def _one_data_loader() -> None:
    """One botocore data loader for the whole test process.

    Every test on moto starts new botocore sessions (`mock_aws`, pynamodb's connections, each
    `boto3.client` after moto resets the default session), and each new session decodes the
    same service models and endpoint rules from JSON again: about 0.3 s of CPU per test, a
    quarter of the suite. The files do not change during a run, so one loader serves them all.
    boto3 appends its own data folder to the loader's search paths once per session: the shared
    loader keeps each path once.
    """
    import functools

    import botocore.loaders
    import botocore.session

    class OncePerPath(list[str]):
        def append(self, path: str) -> None:
            if path not in self:
                super().append(path)

    @functools.cache
    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        loader = botocore.loaders.create_loader(search_path_string)
        loader._search_paths = OncePerPath(loader.search_paths)
        return loader

    botocore.session.create_loader = shared_loader  # type: ignore[assignment]


_one_data_loader()
# moto's answers rendered faster, the same bytes (baton.local.aws_server.fast_answers): about
# 13 ms less CPU per job-item write, half a millisecond less per listed key.
fast_answers.install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that run real worker processes (`pytestmark = pytest.mark.real_processes`) first.

    They are paced by real hops and mostly wait, so started first they run beside the CPU-bound
    files instead of forming the suite's tail (the Makefile turns off pytest-xdist's own
    reordering, which puts the files with the most tests first). The order within each group
    is the collection's.
    """
    items.sort(key=lambda item: item.get_closest_marker("real_processes") is None)
