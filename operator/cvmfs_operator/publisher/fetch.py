"""Download a tarball payload (http(s) streamed, or s3://bucket/key with the repository's S3)."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from cvmfs_operator.api.contract import ErrorClass, S3Target
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


def download(url: str, target: Path, s3: S3Target | None, credentials: S3Credentials | None) -> int:
    """Write the tarball at ``url`` to ``target``; return its size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as sink:
        if url.startswith("s3://"):
            if s3 is None or credentials is None:
                raise PublisherError(ErrorClass.INVALID_INPUT, "fetch", "an s3:// tarball needs S3 settings")
            _from_s3(url, sink, s3, credentials)
        else:
            _from_http(url, sink)
    return target.stat().st_size


def _from_http(url: str, sink: IO[bytes]) -> None:
    shown = display_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "cvmfs-publisher"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            shutil.copyfileobj(response, sink, CHUNK)
    except urllib.error.HTTPError as error:
        raise _failed(f"tarball download from {shown} failed: HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise _failed(f"tarball at {shown} is unreachable: {error.reason}") from None
    except (OSError, TimeoutError) as error:
        raise _failed(f"tarball download from {shown} was interrupted: {error}") from None


def _s3_client(s3: S3Target, credentials: S3Credentials) -> Any:
    import boto3  # only s3:// tarballs need it; importing it costs most of the start-up time
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(
            s3={"addressing_style": "virtual" if s3.get("dnsBuckets", True) else "path"},
            retries={"max_attempts": 3},
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
        ),
    )


def _from_s3(url: str, sink: IO[bytes], s3: S3Target, credentials: S3Credentials) -> None:
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
