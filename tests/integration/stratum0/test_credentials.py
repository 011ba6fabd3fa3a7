"""Credentials: refused keys are reported as such, and the secret key never leaks into any text."""

from __future__ import annotations

import traceback

import pytest

from cvmfs_operator.stratum0 import (
    AccessDenied,
    S3Reader,
    Stratum0Error,
    assess_health,
    observe,
)
from tests.integration.stratum0.conftest import AuthS3
from tests.integration.stratum0.repository import FQRN, NOW

WRONG_SECRET = "wr0ng-s3cret-that-must-never-be-shown"


def reader(auth: AuthS3, access_key: str, secret_key: str, bucket: str | None = None) -> S3Reader:
    return S3Reader(endpoint=auth.url, bucket=bucket or auth.bucket, prefix=FQRN,
                    access_key=access_key, secret_key=secret_key)


def test_valid_credentials_read_the_repository(auth_s3: AuthS3) -> None:
    valid = reader(auth_s3, auth_s3.access_key, auth_s3.secret_key)
    assert valid.manifest().revision == 5
    tag = valid.find_tag("team-a-v1")
    assert tag is not None
    assert tag.revision == 5


@pytest.mark.parametrize(
    ("access_key", "code"),
    [
        pytest.param(None, "SignatureDoesNotMatch", id="wrong-secret"),
        pytest.param("AKIAUNKNOWNKEY000000", "InvalidAccessKeyId", id="unknown-key"),
    ],
)
def test_refused_credentials(auth_s3: AuthS3, access_key: str | None, code: str) -> None:
    refused = reader(auth_s3, access_key or auth_s3.access_key, WRONG_SECRET)
    with pytest.raises(AccessDenied) as caught:
        refused.manifest()
    assert str(caught.value).startswith(
        f"S3 refused access to {auth_s3.bucket}/{FQRN}/.cvmfspublished at {auth_s3.url} ({code})")
    status = assess_health(observe(refused), now=NOW, fqrn=FQRN)
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "CredentialsRefused")


def _all_text(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), *map(str, error.args),
                      *traceback.format_exception(error)])


def test_secret_key_never_appears_in_errors_or_status(auth_s3: AuthS3, closed_port: int) -> None:
    secrets = (WRONG_SECRET, auth_s3.secret_key)
    readers = [
        reader(auth_s3, auth_s3.access_key, WRONG_SECRET),
        reader(auth_s3, "AKIAUNKNOWNKEY000000", WRONG_SECRET),
        reader(auth_s3, auth_s3.access_key, auth_s3.secret_key, bucket="cvmfs-not-there"),
        S3Reader(endpoint=f"http://127.0.0.1:{closed_port}", bucket="b-dead", prefix=FQRN,
                 access_key=auth_s3.access_key, secret_key=auth_s3.secret_key),
    ]
    texts = []
    for each in readers:
        texts.append(repr(each))
        with pytest.raises(Stratum0Error) as caught:
            each.manifest()
        texts.append(_all_text(caught.value))
        texts.append(repr(assess_health(observe(each), now=NOW, fqrn=FQRN)))
    assert len(texts) == 12
    for text in texts:
        for secret in secrets:
            assert secret not in text
