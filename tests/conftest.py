"""Shared fixtures: an S3 endpoint (moto server on loopback) and the e2e opt-in switch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.s3 import S3Endpoint, moto_endpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--with-e2e", action="store_true", default=False,
                     help="run tests/e2e against the cluster named by KUBECONFIG")
    parser.addoption("--simulate-kubelet", action="store_true", default=False,
                     help="e2e: the test plays the kubelet (control-plane-only clusters)")


# The longest tests (each a minute or more of operator processes) start first: with several
# workers (pytest -n), a long test collected last would run alone at the end.
LONG_FIRST = ("test_sigkill.py", "test_two_replicas.py", "test_faults.py", "test_least_privilege.py",
              "test_examples.py", "test_demo.py", "test_wakeups.py", "test_kubectl_cvmfs.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: order kept
    if config.getoption("--with-e2e"):
        return
    skip = pytest.mark.skip(reason="e2e tests need --with-e2e and a cluster from KUBECONFIG")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    yield from moto_endpoint()


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    """A fresh, empty bucket per test."""
    name = f"cvmfs-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name
