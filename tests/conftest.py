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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
