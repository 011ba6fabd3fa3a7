"""payload.tarball.sha256: the publisher checks the downloaded bytes before anything is unpacked,
and reads s3:// tarballs of the Repository's staging bucket from the staging endpoint."""

from __future__ import annotations

import hashlib
import uuid

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import Stratum0
from tests.integration.publisher.test_payloads import assert_published, make_tar


def _staged(repo: Stratum0, body: bytes) -> tuple[str, dict[str, object]]:
    """A tarball in a separate staging bucket; the URL and the config's staging entry."""
    staging = f"staging-{uuid.uuid4().hex[:10]}"
    client = repo.s3.client()
    client.create_bucket(Bucket=staging)
    client.put_object(Bucket=staging, Key="incoming/r.tar", Body=body)
    source = {"endpoint": repo.s3.url, "bucket": staging, "region": "us-east-1", "dnsBuckets": False}
    return f"s3://{staging}/incoming/r.tar", source


def test_a_staged_tarball_with_its_checksum_is_published(repo: Stratum0) -> None:
    repo.seed()
    body = make_tar({"bin/tool": b"v2"})
    url, staging = _staged(repo, body)
    payload = {"tarball": {"url": url, "sha256": hashlib.sha256(body).hexdigest()}}
    run = repo.run(repo.config(payload, staging=staging))
    assert_published(repo, run.code, run.result, revision=4)
    assert repo.published_tree()["sw/bin/tool"] == b"v2"
    assert f"SHA-256 {hashlib.sha256(body).hexdigest()} as expected" in run.stderr


def test_a_different_checksum_fails_before_the_transaction_opens(repo: Stratum0) -> None:
    repo.seed({"sw/old.txt": b"old"})
    body = make_tar({"bin/tool": b"tampered"})
    url, staging = _staged(repo, body)
    expected = hashlib.sha256(b"what the release manager uploaded").hexdigest()
    run = repo.run(repo.config({"tarball": {"url": url, "sha256": expected}}, staging=staging))
    assert run.code == ExitCode.CHECKSUM_MISMATCH
    assert run.result["errorClass"] == "ChecksumMismatch"
    assert run.result["step"] == "fetch"
    assert expected in run.result["message"]
    assert hashlib.sha256(body).hexdigest() in run.result["message"]
    assert repo.verbs() == ["mount"]  # never opened, so nothing to abort and nothing unpacked
    assert not any(repo.root.rglob("payload.tar"))


def test_a_malformed_checksum_is_invalid_input(repo: Stratum0) -> None:
    repo.seed()
    run = repo.run(repo.config({"tarball": {"url": "http://127.0.0.1:9/r.tar", "sha256": "ABC"}}))
    assert run.code == ExitCode.INVALID_INPUT
    assert "sha256" in run.result["message"]
