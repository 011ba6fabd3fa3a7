"""The swissknife double's uploads (tests/support/s3fanout_double.py) against an S3 server that checks
signatures: a double that signed wrongly would pass against the permissive server every other
publisher test uses and hide a broken upload path."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials

from tests.integration.stratum0.conftest import AuthS3
from tests.support.cvmfs_storage_double import Spooler, Uploader
from tests.support.s3fanout_double import Fanout, S3Target, UploadError

WRONG_SECRET = "wr0ng-s3cret-that-must-never-be-shown"


def target(auth: AuthS3, flavor: str, secret: str | None = None, acl: str = "public-read") -> S3Target:
    host, port = auth.url.removeprefix("http://").split(":")
    return S3Target(host=host, port=int(port), https=False, bucket=auth.bucket, access_key=auth.access_key,
                    secret_key=secret or auth.secret_key, dns_buckets=False, acl=acl, flavor=flavor)


def head(auth: AuthS3, key: str) -> dict[str, object]:
    s3 = boto3.client("s3", endpoint_url=auth.url, region_name="us-east-1", aws_access_key_id=auth.access_key,
                      aws_secret_access_key=auth.secret_key, config=Config(s3={"addressing_style": "path"}))
    return dict(s3.head_object(Bucket=auth.bucket, Key=key))


@pytest.mark.parametrize("acl", ["public-read", ""])
def test_a_signed_upload_and_deletion_are_accepted(auth_s3: AuthS3, acl: str) -> None:
    fanout = Fanout(target(auth_s3, "awsv4", acl=acl))
    fanout.put("fanout.example.org/data/ab/cdef", b"object bytes")
    fanout.put("fanout.example.org/.cvmfspublished", b"manifest")
    assert head(auth_s3, "fanout.example.org/data/ab/cdef")["ContentLength"] == 12
    assert head(auth_s3, "fanout.example.org/.cvmfspublished")["ContentType"] == "application/x-cvmfs"
    fanout.delete("fanout.example.org/data/ab/cdef")
    with pytest.raises(Exception, match=r"404|Not Found"):
        head(auth_s3, "fanout.example.org/data/ab/cdef")


def test_a_wrong_secret_is_refused_and_never_shown(auth_s3: AuthS3) -> None:
    with pytest.raises(UploadError) as caught:
        Fanout(target(auth_s3, "awsv4", secret=WRONG_SECRET)).put("fanout.example.org/data/00/refused", b"x")
    assert "HTTP 403" in str(caught.value)
    assert WRONG_SECRET not in str(caught.value)


def test_the_v2_signature_is_the_one_botocore_computes() -> None:
    """moto does not check V2 signatures (it answers 500), so the V2 header (cvmfs's default flavor)
    is compared with botocore's own HMAC-V1 signer over the same request and headers."""
    t = S3Target(host="127.0.0.1", port=9000, https=False, bucket="bkt", access_key="AKIAEXAMPLE",
                 secret_key="secret/key+1", dns_buckets=False, flavor="awsv2")
    body = b"object bytes"
    headers = Fanout(t)._sign("PUT", "alias/data/ab/cdef", "/bkt/alias/data/ab/cdef", body,
                              "application/octet-stream")
    signer = HmacV1Auth(Credentials(t.access_key, t.secret_key))
    split = urllib.parse.urlsplit("http://127.0.0.1:9000/bkt/alias/data/ab/cdef")
    signed = HTTPHeaders()
    for name, value in headers.items():
        signed[name] = value
    expected = signer.get_signature("PUT", split, cast("Mapping[str, Any]", signed))  # the stubs say Mapping
    assert headers["Authorization"] == f"AWS {t.access_key}:{expected}"
    assert headers["Content-MD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()


def test_an_unreachable_endpoint_is_an_upload_error(closed_port: int) -> None:
    fanout = Fanout(S3Target(host="127.0.0.1", port=closed_port, https=False, bucket="b", access_key="a",
                             secret_key="s", dns_buckets=False, flavor="awsv2"))
    with pytest.raises(UploadError, match=r"PUT x/\.cvmfspublished"):
        fanout.put("x/.cvmfspublished", b"m")


def test_azure_is_not_doubled() -> None:
    with pytest.raises(UploadError, match="azure"):
        Fanout(S3Target(host="h", port=None, https=True, bucket="b", access_key="a", secret_key="s",
                        flavor="azure"))


@pytest.mark.parametrize(("lines", "flavor"), [
    ([], "awsv2"),  # S3Uploader's default
    (["CVMFS_S3_REGION=eu-central-1"], "awsv4"),  # a region selects V4
    (["CVMFS_S3_REGION=eu-central-1", "CVMFS_S3_FLAVOR=awsv2"], "awsv2"),  # the flavor decides last
    (["CVMFS_S3_FLAVOR=awsv4"], "awsv4"),
])
def test_the_signature_flavor_is_chosen_as_upload_s3_chooses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], flavor: str) -> None:
    conf = tmp_path / "etc/cvmfs/s3/sw.example.org.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("\n".join(["CVMFS_S3_HOST=127.0.0.1", "CVMFS_S3_ACCESS_KEY=a", "CVMFS_S3_SECRET_KEY=s",
                               "CVMFS_S3_BUCKET=b", *lines]) + "\n")
    conf.chmod(0o600)
    monkeypatch.setenv("CVMFS_DOUBLE_ROOT", str(tmp_path))
    uploader = Uploader(Spooler.parse("S3,/var/spool/cvmfs/sw.example.org/tmp,"
                                      "sw.example.org@/etc/cvmfs/s3/sw.example.org.conf"))
    assert uploader.fanout.target.flavor == flavor
