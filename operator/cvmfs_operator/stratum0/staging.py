"""Upload a tarball to a Repository's staging bucket (``spec.staging.s3``) with the user's own
credentials, for ``kubectl cvmfs publish``.

Keys are content-addressed (``<prefix>/<sha256>.tar``), which makes every step idempotent:

* an object already at the key with the same size and ``sha256`` metadata is reused (no upload);
* a multipart upload left by an interrupted run of the same tarball is resumed: the parts S3
  already holds (same number and size) are kept, only the missing ones are sent;
* each part is read from the file at its offset when it is sent, so memory stays at one part
  whatever the tarball's size; a part that fails is retried before the upload gives up.

The bytes are not trusted because of any of this: the publisher checks ``payload.tarball.sha256``
after its download and before unpacking. Credentials come from boto3's usual chain (environment,
``AWS_PROFILE``, shared files), never from the cluster.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.exceptions
from botocore.config import Config

from cvmfs_operator.api.types import StagingS3Spec
from cvmfs_operator.stratum0.errors import AccessDenied, BucketMissing, Stratum0Error, Unreachable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 16 * 1024 * 1024  # S3 allows at most 10,000 parts: 16 MiB parts reach 156 GiB
PART_ATTEMPTS = 4
Progress = Callable[[int, int], None]  # bytes done, total


class NoCredentials(Stratum0Error):
    """No S3 credentials in the user's environment."""


@dataclass(frozen=True)
class StagingTarget:
    endpoint: str
    bucket: str
    prefix: str
    region: str = "us-east-1"
    addressing: Literal["path", "virtual"] = "path"

    @classmethod
    def from_spec(cls, fqrn: str, spec: StagingS3Spec) -> StagingTarget:
        return cls(endpoint=spec["endpoint"].rstrip("/"), bucket=spec["bucket"],
                   prefix=(spec.get("prefix") or f"staging/{fqrn}").strip("/"),
                   region=spec.get("region") or "us-east-1", addressing=spec.get("addressing", "path"))

    def key(self, sha256: str) -> str:
        return f"{self.prefix}/{sha256}.tar"

    def url(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha256)}"


@dataclass(frozen=True)
class Staged:
    url: str  # s3://bucket/key, what the Transaction's payload.tarball.url names
    size: int
    reused: bool  # the object was already there: nothing was sent
    resumed_parts: int  # parts of an interrupted upload that were kept


def _client(target: StagingTarget, profile: str | None) -> S3Client:
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    config = Config(region_name=target.region, s3={"addressing_style": target.addressing},
                    retries={"total_max_attempts": 3, "mode": "standard"},
                    connect_timeout=10, read_timeout=120)
    return session.client("s3", endpoint_url=target.endpoint, config=config)


def _translate(error: Exception, target: StagingTarget, what: str) -> Stratum0Error:
    where = f"s3://{target.bucket}/{target.prefix}/ at {target.endpoint}"
    if isinstance(error, botocore.exceptions.NoCredentialsError | botocore.exceptions.ProfileNotFound):
        return NoCredentials(
            f"no S3 credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE (your own staging credentials, never the repository's publishing keys)")
    if isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if code == "NoSuchBucket":
            return BucketMissing(f"{what}: the staging bucket {target.bucket} does not exist at "
                                 f"{target.endpoint}; ask the repository's SRE to create it")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
            return AccessDenied(f"{what}: {code or 'HTTP 403'} for {where}; check your credentials, "
                                "or ask the repository's SRE for write access to this prefix")
        return Stratum0Error(f"{what}: HTTP {status} {code} from {target.endpoint}")
    return Unreachable(f"{what}: {target.endpoint} did not answer ({type(error).__name__})")


_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class Uploader:
    def __init__(self, target: StagingTarget, *, profile: str | None = None, part_size: int = PART_SIZE,
                 progress: Progress | None = None, client: Any = None) -> None:
        self.target = target
        self.part_size = part_size
        self.progress = progress or (lambda done, total: None)
        try:
            self.client: S3Client = client or _client(target, profile)
        except _ERRORS as error:
            raise _translate(error, target, "connect") from None

    def upload(self, path: Path, sha256: str) -> Staged:
        key, size = self.target.key(sha256), path.stat().st_size
        try:
            if self._already_there(key, size, sha256):
                self.progress(size, size)
                return Staged(self.target.url(sha256), size, reused=True, resumed_parts=0)
            if size <= self.part_size:
                with path.open("rb") as body:
                    self._retry(lambda: self.client.put_object(
                        Bucket=self.target.bucket, Key=key, Body=body.read(), Metadata={"sha256": sha256}))
                self.progress(size, size)
                return Staged(self.target.url(sha256), size, reused=False, resumed_parts=0)
            kept = self._multipart(path, key, size, sha256)
        except _ERRORS as error:
            raise _translate(error, self.target, f"upload of {path.name}") from None
        return Staged(self.target.url(sha256), size, reused=False, resumed_parts=kept)

    def _already_there(self, key: str, size: int, sha256: str) -> bool:
        try:
            head = self.client.head_object(Bucket=self.target.bucket, Key=key)
        except botocore.exceptions.ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return head.get("ContentLength") == size and head.get("Metadata", {}).get("sha256") == sha256

    def _open_upload(self, key: str, sha256: str) -> tuple[str, dict[int, tuple[str, int]]]:
        """An interrupted upload of this key to resume (its parts), else a new one."""
        listing = self.client.list_multipart_uploads(Bucket=self.target.bucket, Prefix=key)
        for upload in listing.get("Uploads", []):
            if upload.get("Key") != key:
                continue
            upload_id = str(upload["UploadId"])
            parts = self.client.list_parts(Bucket=self.target.bucket, Key=key, UploadId=upload_id)
            return upload_id, {int(p["PartNumber"]): (str(p["ETag"]), int(p["Size"]))
                               for p in parts.get("Parts", [])}
        created = self.client.create_multipart_upload(Bucket=self.target.bucket, Key=key,
                                                      Metadata={"sha256": sha256})
        return str(created["UploadId"]), {}

    def _multipart(self, path: Path, key: str, size: int, sha256: str) -> int:
        upload_id, existing = self._open_upload(key, sha256)
        count = (size + self.part_size - 1) // self.part_size
        etags: list[CompletedPartTypeDef] = []
        done, kept = 0, 0
        with path.open("rb") as source:
            for number in range(1, count + 1):
                length = min(self.part_size, size - (number - 1) * self.part_size)
                if number in existing and existing[number][1] == length:
                    etag, kept = existing[number][0], kept + 1
                else:
                    source.seek((number - 1) * self.part_size)
                    chunk = source.read(length)
                    response = self._retry(functools.partial(
                        self.client.upload_part, Bucket=self.target.bucket, Key=key, UploadId=upload_id,
                        PartNumber=number, Body=chunk))
                    etag = str(response["ETag"])
                done += length
                self.progress(done, size)
                etags.append({"PartNumber": number, "ETag": etag})
        self._retry(lambda: self.client.complete_multipart_upload(
            Bucket=self.target.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": etags}))
        return kept

    @staticmethod
    def _retry(call: Callable[[], Any]) -> Any:
        """botocore retries throttling and 5xx itself; this also covers dropped connections."""
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                return call()
            except (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError):
                if attempt == PART_ATTEMPTS:
                    raise
                time.sleep(min(2.0 ** attempt, 10.0))
        raise AssertionError("unreachable")
