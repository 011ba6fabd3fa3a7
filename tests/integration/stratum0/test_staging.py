"""The staging upload against moto's S3: multipart with constant memory, resume of an interrupted
upload, reuse of content already staged, and errors that say what to do."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from cvmfs_operator.stratum0.errors import AccessDenied, BucketMissing
from cvmfs_operator.stratum0.staging import NoCredentials, StagingTarget, Uploader
from tests.support.s3 import S3Endpoint

PART = 5 * 1024 * 1024  # S3's smallest part size (all parts but the last)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The release manager's own environment (boto3's credential chain reads it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIARELEASEMANAGER01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "release-manager-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def staging(s3: S3Endpoint) -> StagingTarget:
    bucket = f"staging-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=bucket)
    return StagingTarget.from_spec("sw.example.org", {"endpoint": s3.url, "bucket": bucket})


def tarball(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "payload.tar"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("credentials")
def test_an_interrupted_upload_resumes_with_the_parts_already_sent(s3: S3Endpoint, tmp_path: Path) -> None:
    target = staging(s3)
    path, sha = tarball(tmp_path, 2 * PART + 1000)
    assert target.key(sha) == f"staging/sw.example.org/{sha}.tar"
    client = s3.client()
    # What an earlier run left when it was interrupted after its first part:
    upload = client.create_multipart_upload(Bucket=target.bucket, Key=target.key(sha),
                                            Metadata={"sha256": sha})
    client.upload_part(Bucket=target.bucket, Key=target.key(sha), UploadId=upload["UploadId"], PartNumber=1,
                       Body=path.read_bytes()[:PART])
    seen: list[int] = []
    uploader = Uploader(target, part_size=PART, progress=lambda done, total: seen.append(done))
    staged = uploader.upload(path, sha)
    assert staged.url == f"s3://{target.bucket}/staging/sw.example.org/{sha}.tar"
    assert staged.resumed_parts == 1
    assert seen == [PART, 2 * PART, 2 * PART + 1000]
    body = client.get_object(Bucket=target.bucket, Key=target.key(sha))["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha
    again = Uploader(target, part_size=PART).upload(path, sha)
    assert again.reused


@pytest.mark.usefixtures("credentials")
def test_a_missing_bucket_says_whom_to_ask(s3: S3Endpoint, tmp_path: Path) -> None:
    target = StagingTarget.from_spec("sw.example.org", {"endpoint": s3.url, "bucket": "no-such-staging"})
    path, sha = tarball(tmp_path, 10)
    with pytest.raises(BucketMissing, match="ask the repository's SRE"):
        Uploader(target).upload(path, sha)


def test_without_credentials_the_error_names_the_variables(s3: S3Endpoint, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path, sha = tarball(tmp_path, 10)
    with pytest.raises((NoCredentials, AccessDenied), match=r"AWS_ACCESS_KEY_ID|credentials"):
        Uploader(staging(s3)).upload(path, sha)
