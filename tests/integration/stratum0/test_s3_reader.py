"""S3Reader against moto's S3 server on loopback, with objects laid out as cvmfs writes them."""

from __future__ import annotations

import datetime
import hashlib
import time

import pytest

from cvmfs_operator.stratum0 import (
    BucketMissing,
    CorruptObject,
    InvalidConfiguration,
    ObjectMissing,
    Published,
    S3Reader,
    Timeouts,
    Unreachable,
    assess_health,
    observe,
    publish_outcome,
)
from tests.integration.stratum0.repository import FQRN, NOW, put_repository, release_tag
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

FAST = Timeouts(connect=0.5, read=0.5, attempts=2)


def reader(s3: S3Endpoint, bucket: str, **overrides: object) -> S3Reader:
    settings: dict[str, object] = {"endpoint": s3.url, "bucket": bucket, "prefix": FQRN,
                                   "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    settings.update(overrides)
    return S3Reader(**settings)  # type: ignore[arg-type]


def conditions(status: object) -> dict[str, str]:
    assert isinstance(status, dict)
    return {c["type"]: f"{c['status']}/{c['reason']}" for c in status["conditions"]}


def test_fresh_repository(s3: S3Endpoint, bucket: str) -> None:
    published = put_repository(s3.client(), bucket, revision=1)
    manifest = reader(s3, bucket).manifest()
    assert (manifest.revision, manifest.root_hash, manifest.name) == (1, published.root_hash, FQRN)
    assert manifest.tag_db_hash is None
    assert reader(s3, bucket).find_tag("anything") is None  # no H: a repository without tags
    assert reader(s3, bucket).tags() == ()
    status = assess_health(observe(reader(s3, bucket)), now=NOW, fqrn=FQRN)
    assert status["revision"] == 1
    assert conditions(status)["Ready"] == "True/Published"


def test_advanced_revision_is_seen_on_the_next_read(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket, revision=1)
    s3_reader = reader(s3, bucket)
    assert s3_reader.manifest().revision == 1
    put_repository(s3.client(), bucket, revision=2, tags=[release_tag("team-a-v2", 2)])
    assert s3_reader.manifest().revision == 2


def test_tag_present_and_absent(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket, revision=7,
                   tags=[release_tag("team-a-v1", 6), release_tag("team-a-v2", 7), release_tag("trunk", 7)])
    s3_reader = reader(s3, bucket)
    tag = s3_reader.find_tag("team-a-v2")
    assert tag is not None
    assert (tag.revision, tag.root_hash) == (7, s3_reader.manifest().root_hash)
    assert s3_reader.find_tag("team-a-v3") is None
    assert [t.name for t in s3_reader.tags()] == ["team-a-v1", "team-a-v2", "trunk"]
    assert publish_outcome(tag, revision_before=6) == Published(7, tag.root_hash)


def test_tag_database_named_by_manifest_but_missing(s3: S3Endpoint, bucket: str) -> None:
    published = put_repository(s3.client(), bucket, revision=3, tags=[release_tag("t", 3)])
    s3.client().delete_object(Bucket=bucket, Key=published.tag_db_key)
    with pytest.raises(ObjectMissing) as caught:
        reader(s3, bucket).find_tag("t")
    assert str(caught.value) == f"{bucket}/{published.tag_db_key} at {s3.url} does not exist"


def test_corrupt_tag_database(s3: S3Endpoint, bucket: str) -> None:
    published = put_repository(s3.client(), bucket, revision=3, tags=[release_tag("t", 3)])
    s3.client().put_object(Bucket=bucket, Key=published.tag_db_key, Body=b"garbage")
    assert published.tag_db_key is not None
    with pytest.raises(CorruptObject, match="not zlib-compressed data") as caught:
        reader(s3, bucket).find_tag("t")
    assert caught.value.object_name == published.tag_db_key.removeprefix(f"{FQRN}/")


def test_expired_and_soon_expiring_whitelist(s3: S3Endpoint, bucket: str) -> None:
    client = s3.client()
    put_repository(client, bucket, whitelist_expires_in=-datetime.timedelta(days=1))
    expired = assess_health(observe(reader(s3, bucket)), now=NOW, fqrn=FQRN)
    assert conditions(expired)["Ready"] == "False/WhitelistExpired"
    assert conditions(expired)["WhitelistExpiringSoon"] == "True/WhitelistExpired"
    put_repository(client, bucket, whitelist_expires_in=datetime.timedelta(days=2))
    soon = assess_health(observe(reader(s3, bucket)), now=NOW, fqrn=FQRN)
    assert conditions(soon)["Ready"] == "True/Published"
    assert conditions(soon)["WhitelistExpiringSoon"] == "True/WhitelistExpiringSoon"


def test_corrupt_manifest(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket)
    s3.client().put_object(Bucket=bucket, Key=f"{FQRN}/.cvmfspublished", Body=b"C1234\nSseven\n--\n")
    with pytest.raises(CorruptObject) as caught:
        reader(s3, bucket).manifest()
    assert str(caught.value).startswith(".cvmfspublished: required field R (root path hash) is missing")
    status = assess_health(observe(reader(s3, bucket)), now=NOW, fqrn=FQRN)
    assert conditions(status)["Degraded"] == "True/ManifestCorrupt"
    assert "whitelistExpiresAt" in status  # the whitelist was still read


def test_missing_objects(s3: S3Endpoint, bucket: str) -> None:
    with pytest.raises(ObjectMissing) as caught:
        reader(s3, bucket).manifest()
    assert str(caught.value) == f"{bucket}/{FQRN}/.cvmfspublished at {s3.url} does not exist"
    status = assess_health(observe(reader(s3, bucket)), now=NOW, fqrn=FQRN)
    assert conditions(status) == {"Ready": "False/ManifestMissing", "Unreachable": "False/Reachable",
                                  "Degraded": "True/ManifestMissing",
                                  "WhitelistExpiringSoon": "Unknown/WhitelistUnknown",
                                  "Stalled": "True/ManifestMissing"}


def test_wrong_prefix_finds_nothing(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket, prefix=f"cvmfs/{FQRN}")
    with pytest.raises(ObjectMissing):
        reader(s3, bucket).manifest()
    assert reader(s3, bucket, prefix=f"cvmfs/{FQRN}/").manifest().revision == 1


def test_bucket_missing(s3: S3Endpoint) -> None:
    with pytest.raises(BucketMissing) as caught:
        reader(s3, "cvmfs-no-such-bucket").manifest()
    assert str(caught.value) == f"bucket 'cvmfs-no-such-bucket' does not exist at {s3.url}"
    status = assess_health(observe(reader(s3, "cvmfs-no-such-bucket")), now=NOW)
    assert conditions(status)["Degraded"] == "True/BucketMissing"


def test_reflog_checksum(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket)
    assert reader(s3, bucket).reflog_checksum() is None
    reflog = b"SQLite format 3\x00reflog"
    put_repository(s3.client(), bucket, reflog=reflog)
    # the plain SHA-1 hex of the object, as `cvmfs_publish hash -a sha1` prints it into reflog.chksum
    assert reader(s3, bucket).reflog_checksum() == hashlib.sha1(reflog).hexdigest()
    shake = hashlib.shake_128(reflog).hexdigest(20)
    assert reader(s3, bucket).reflog_checksum("shake128") == f"{shake}-shake128"


def test_endpoint_down_fails_fast(closed_port: int) -> None:
    down = S3Reader(endpoint=f"http://127.0.0.1:{closed_port}", bucket="b-dead", prefix=FQRN,
                    access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        down.manifest()
    assert time.monotonic() - started < 5
    assert f"S3 endpoint http://127.0.0.1:{closed_port} did not answer" in str(caught.value)
    status = assess_health(observe(down), now=NOW)
    assert conditions(status)["Unreachable"] == "True/Unreachable"


def test_silent_endpoint_times_out_fast(silent_port: int) -> None:
    silent = S3Reader(endpoint=f"http://127.0.0.1:{silent_port}", bucket="b-silent", prefix=FQRN,
                      access_key=ACCESS_KEY, secret_key=SECRET_KEY, timeouts=FAST)
    started = time.monotonic()
    with pytest.raises(Unreachable, match="did not answer"):
        silent.manifest()
    assert time.monotonic() - started < 4


def test_virtual_host_addressing(s3: S3Endpoint, bucket: str) -> None:
    """DNS-style buckets: the bucket travels in the Host header (``<bucket>.s3.example.test``).

    The name does not resolve, so the request goes through moto acting as an HTTP proxy, which
    routes by Host exactly as a virtual-host S3 endpoint does.
    """
    put_repository(s3.client(), bucket, revision=9)
    virtual = reader(s3, bucket, endpoint=f"http://s3.example.test:{s3.port}", addressing="virtual",
                     proxy=s3.url)
    assert virtual.manifest().revision == 9
    # The same endpoint with path-style addressing asks the wrong bucket ("s3", from the host name):
    # the symptom of an addressing mismatch is a missing bucket.
    mismatched = reader(s3, bucket, endpoint=f"http://s3.example.test:{s3.port}", addressing="path",
                        proxy=s3.url)
    with pytest.raises(BucketMissing):
        mismatched.manifest()


def test_invalid_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(InvalidConfiguration, match="invalid S3 endpoint 'not a url'"):
        S3Reader(endpoint="not a url", bucket="b", prefix=FQRN)


def test_from_spec_defaults_the_prefix_to_the_fqrn(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket, revision=4)
    from_spec = S3Reader.from_spec(FQRN, {"endpoint": s3.url, "bucket": bucket,
                                          "credentialsSecretRef": {"name": "creds"}},
                                   access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    assert from_spec.key(".cvmfspublished") == f"{FQRN}/.cvmfspublished"
    assert from_spec.manifest().revision == 4
