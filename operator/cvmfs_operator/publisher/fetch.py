"""Download a tarball payload (http(s) streamed, or s3://bucket/key with the repository's S3)."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from cvmfs_operator.api.contract import ErrorClass, S3Target, StagingSource
from cvmfs_operator.publisher.conffiles import S3Credentials
from cvmfs_operator.publisher.errors import PublisherError

TIMEOUT_SECONDS = 60
CHUNK = 1 << 20


def display_url(url: str) -> str:
    """The URL without user info, query or fragment (pre-signed URLs carry credentials there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _failed(message: str) -> PublisherError:
    return PublisherError(ErrorClass.PAYLOAD_FETCH_FAILED, "fetch", message)


class _Hashing:
    """A file that computes the SHA-256 of what is written to it, as it is written."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        return self.sink.write(chunk)


def download(url: str, target: Path, s3: S3Target | None, credentials: S3Credentials | None, *,
             staging: StagingSource | None = None, sha256: str | None = None) -> int:
    """Write the tarball at ``url`` to ``target``; return its size in bytes.

    ``s3://`` URLs in the Repository's staging bucket are read from the staging endpoint, others
    from the repository's own. With ``sha256``, the bytes written must have that digest, else
    :attr:`ErrorClass.CHECKSUM_MISMATCH` (and the file is removed, so nothing unpacks it).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as raw:
        sink = _Hashing(raw)
        if url.startswith("s3://"):
            bucket = url[len("s3://"):].partition("/")[0]
            source: S3Target | StagingSource | None = s3
            if staging is not None and bucket == staging["bucket"]:
                source = staging
            elif s3 is None or credentials is None:
                raise PublisherError(ErrorClass.INVALID_INPUT, "fetch", "an s3:// tarball needs S3 settings")
            assert source is not None
            _from_s3(url, sink, source, credentials)
        else:
            _from_http(url, sink)
    actual = sink.digest.hexdigest()
    if sha256 is not None and actual != sha256:
        target.unlink()
        raise PublisherError(
            ErrorClass.CHECKSUM_MISMATCH, "fetch",
            f"tarball {display_url(url)} has SHA-256 {actual}, not {sha256} as payload.tarball.sha256 "
            "says: it changed after it was staged, or the download was corrupted; stage it again "
            "and create a new Transaction")
    return target.stat().st_size


def _from_http(url: str, sink: _Hashing) -> None:
    shown = display_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "cvmfs-publisher"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            while chunk := response.read(CHUNK):
                sink.write(chunk)
    except urllib.error.HTTPError as error:
        raise _failed(f"tarball download from {shown} failed: HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise _failed(f"tarball at {shown} is unreachable: {error.reason}") from None
    except (OSError, TimeoutError) as error:
        raise _failed(f"tarball download from {shown} was interrupted: {error}") from None


def _s3_client(s3: S3Target | StagingSource, credentials: S3Credentials | None) -> Any:
    import boto3  # only s3:// tarballs need it; importing it costs most of the start-up time
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=credentials.access_key if credentials else None,
        aws_secret_access_key=credentials.secret_key if credentials else None,
        config=Config(
            signature_version=None if credentials else UNSIGNED,
            s3={"addressing_style": "virtual" if s3.get("dnsBuckets", True) else "path"},
            retries={"max_attempts": 3},
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
        ),
    )


def _from_s3(url: str, sink: _Hashing, s3: S3Target | StagingSource, credentials: S3Credentials | None
             ) -> None:
    bucket, _, key = url[len("s3://"):].partition("/")
    try:
        body = _s3_client(s3, credentials).get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(CHUNK):
            sink.write(chunk)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        code = error.response.get("Error", {}).get("Code", "error")
        raise _failed(f"tarball {url} could not be read from S3: HTTP {status} {code}") from None
    except BotoCoreError as error:
        raise _failed(f"tarball {url} could not be read from S3: {type(error).__name__}") from None
