"""HttpReader: the repository as clients see it, from the Stratum 0 URL over plain HTTP."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from cvmfs_operator.stratum0 import (
    AccessDenied,
    BucketMissing,
    HttpReader,
    InvalidConfiguration,
    ObjectMissing,
    StorageFailure,
    Unreachable,
    assess_health,
    observe,
)
from tests.integration.stratum0.repository import FQRN, NOW, put_repository, release_tag
from tests.support.s3 import S3Endpoint


def test_reads_the_public_objects(s3: S3Endpoint, bucket: str) -> None:
    put_repository(s3.client(), bucket, revision=12, tags=[release_tag("team-b-v3", 12)])
    public = HttpReader(s3.public_url(bucket, FQRN))
    assert public.manifest().revision == 12
    assert public.whitelist().name == FQRN
    tag = public.find_tag("team-b-v3")
    assert tag is not None
    assert tag.revision == 12
    assert public.find_tag("team-b-v4") is None
    status = assess_health(observe(public), now=NOW, fqrn=FQRN)
    assert status["revision"] == 12
    assert status["conditions"][0]["status"] == "True"


def test_missing_object_and_missing_bucket(s3: S3Endpoint, bucket: str) -> None:
    with pytest.raises(ObjectMissing) as missing:
        HttpReader(s3.public_url(bucket, FQRN)).manifest()
    assert str(missing.value) == f"GET {s3.public_url(bucket, FQRN)}/.cvmfspublished: HTTP 404 NoSuchKey"
    with pytest.raises(BucketMissing, match="HTTP 404 NoSuchBucket"):
        HttpReader(s3.public_url("cvmfs-not-there", FQRN)).manifest()


def test_endpoint_down_fails_fast(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(Unreachable, match=f"GET http://127.0.0.1:{closed_port}/sw.example.org/"):
        HttpReader(f"http://127.0.0.1:{closed_port}/{FQRN}").manifest()
    assert time.monotonic() - started < 3


def test_silent_endpoint_times_out(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(Unreachable, match="timed out"):
        HttpReader(f"http://127.0.0.1:{silent_port}/{FQRN}", timeout=0.5).manifest()
    assert time.monotonic() - started < 3


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A Stratum 0 stand-in that records request headers and answers with a fixed status."""

    seen: list[dict[str, str]] = []
    answer = 403

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers.items()))
        self.send_response(self.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_bypasses_caches_and_reports_refusal(recorder: str) -> None:
    _Recorder.answer = 403
    with pytest.raises(AccessDenied, match="HTTP 403"):
        HttpReader(f"{recorder}/{FQRN}").manifest()
    assert _Recorder.seen[-1]["Cache-Control"] == "max-age=0"


def test_server_error_is_a_storage_failure(recorder: str) -> None:
    _Recorder.answer = 503
    with pytest.raises(StorageFailure, match=r"\.cvmfswhitelist: HTTP 503"):
        HttpReader(f"{recorder}/{FQRN}").whitelist()


def test_credentials_in_the_url_are_not_shown(closed_port: int) -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port}/{FQRN}?token=abc"
    with pytest.raises(Unreachable) as caught:
        HttpReader(url).manifest()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(HttpReader(url))


def test_url_must_be_http() -> None:
    with pytest.raises(InvalidConfiguration, match="must be http"):
        HttpReader("s3://bucket/sw.example.org")


def test_private_bucket_is_refused(s3: S3Endpoint, bucket: str) -> None:
    # Uploaded without the public-read ACL (CVMFS_S3_X_AMZ_ACL=""): anonymous readers get 403.
    s3.client().put_object(Bucket=bucket, Key=f"{FQRN}/.cvmfspublished", Body=b"private")
    with pytest.raises(AccessDenied, match=r"HTTP 403.*is the bucket publicly readable"):
        HttpReader(s3.public_url(bucket, FQRN)).manifest()
