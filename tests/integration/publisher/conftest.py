"""Fixtures for the publisher tests: a world-traversable pod root and a seeded repository."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.publisher.harness import Stratum0
from tests.support.s3 import S3Endpoint


@pytest.fixture
def pod_root() -> Iterator[Path]:
    """Not under pytest's tmp_path (mode 0700): the script user ``nobody`` must traverse it."""
    root = Path(tempfile.mkdtemp(prefix="cvmfs-publisher-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def repo(s3: S3Endpoint, bucket: str, pod_root: Path) -> Stratum0:
    stratum0 = Stratum0(s3=s3, bucket=bucket, root=pod_root)
    stratum0.mount_secrets()
    return stratum0
