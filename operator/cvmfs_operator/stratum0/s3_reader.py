"""Read a repository through the S3 API (boto3), as its publisher writes it (CVMFS.md §1.4, §4.6).

Objects are at ``<prefix>/<name>`` in the bucket; the prefix is the ``<alias>`` of
``CVMFS_UPSTREAM_STORAGE``, by default the FQRN. Addressing is path style
(``http://host/bucket/key``, ``CVMFS_S3_DNS_BUCKETS=false``) or virtual host / DNS style
(``http://bucket.host/key``, the cvmfs default).

The client is built for a health probe: short connect/read timeouts and at most two attempts, so
a dead endpoint fails within seconds; it comes from a shared, bounded pool
(:mod:`~cvmfs_operator.stratum0.s3_clients`), so building a reader costs no client. botocore
errors are translated into :mod:`errors` classes here; the secret key never appears in a message
(it is also scrubbed from server-supplied text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from cvmfs_operator.api.types import S3Spec
from cvmfs_operator.stratum0.errors import (
    AccessDenied,
    BucketMissing,
    InvalidConfiguration,
    ObjectMissing,
    StorageFailure,
    Stratum0Error,
    Unreachable,
    forget_frames,
)
from cvmfs_operator.stratum0.reader import ObjectReader
from cvmfs_operator.stratum0.s3_clients import Addressing, ClientKey, ClientPool, shared_pool

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_CODES = frozenset({"NoSuchBucket"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId",
                           "SignatureDoesNotMatch", "AllAccessDisabled", "InvalidToken",
                           "ExpiredToken", "AuthorizationHeaderMalformed", "401", "Unauthorized"})


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0  # seconds to open the TCP connection
    read: float = 5.0  # seconds of silence tolerated while reading a response
    attempts: int = 2  # total attempts per request, first one included


class S3Reader(ObjectReader):
    """A :class:`~cvmfs_operator.stratum0.reader.Stratum0Reader` over the S3 API.

    Without ``access_key`` the requests are unsigned (anonymous, for public buckets).
    ``proxy`` is an HTTP(S) proxy URL for the endpoint, if the site needs one. ``clients`` is
    the pool the client comes from (default: the process's shared pool).
    """

    def __init__(self, *, endpoint: str, bucket: str, prefix: str, region: str = "us-east-1",
                 addressing: Addressing = "path", access_key: str | None = None,
                 secret_key: str | None = None, timeouts: Timeouts = Timeouts(),
                 proxy: str | None = None, clients: ClientPool | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.addressing = addressing
        self._secret = secret_key or ""
        key = ClientKey(endpoint=self.endpoint, region=region, addressing=addressing,
                        access_key=access_key, secret_key=secret_key, connect_timeout=timeouts.connect,
                        read_timeout=timeouts.read, attempts=timeouts.attempts, proxy=proxy)
        try:
            self._client: S3Client = (clients if clients is not None else shared_pool()).client(key)
        except ValueError as error:  # botocore rejects a malformed endpoint URL
            raise InvalidConfiguration(f"invalid S3 endpoint {self.endpoint!r}: "
                                       f"{self._scrub(str(error))}") from None

    @classmethod
    def from_spec(cls, fqrn: str, spec: S3Spec, *, access_key: str | None, secret_key: str | None,
                  timeouts: Timeouts = Timeouts(), clients: ClientPool | None = None) -> S3Reader:
        """A reader for a Repository's ``spec.stratum0.s3``; the prefix defaults to the FQRN."""
        return cls(endpoint=spec["endpoint"], bucket=spec["bucket"], prefix=spec.get("prefix") or fqrn,
                   region=spec.get("region") or "us-east-1", addressing=spec.get("addressing", "path"),
                   access_key=access_key, secret_key=secret_key, timeouts=timeouts, clients=clients)

    def __repr__(self) -> str:
        return (f"S3Reader(endpoint={self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r}, "
                f"addressing={self.addressing!r})")

    def key(self, name: str) -> str:
        """The S3 key of the repository object ``name``."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def get_object(self, name: str) -> bytes:
        key = self.key(name)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            failure = self._failure(error, name, key)
            forget_frames(error)  # botocore's frames would keep this reader's client alive
        raise failure  # outside the except block: not chained to botocore's exception

    def _failure(self, error: Exception, name: str, key: str) -> Stratum0Error:
        if isinstance(error, botocore.exceptions.ClientError):
            return self._client_error(error, name, key)
        if isinstance(error, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
            return Unreachable(f"S3 endpoint {self.endpoint} did not answer for "
                               f"{self.bucket}/{key}: {self._scrub(str(error))}", object_name=name)
        return StorageFailure(f"reading {self.bucket}/{key} from {self.endpoint} failed: "
                              f"{self._scrub(str(error))}", object_name=name)

    def _client_error(self, error: botocore.exceptions.ClientError, name: str, key: str) -> Stratum0Error:
        details: Any = error.response.get("Error", {})
        metadata: Any = error.response.get("ResponseMetadata", {})
        code = str(details.get("Code", ""))
        status = metadata.get("HTTPStatusCode")
        text = self._scrub(str(details.get("Message", "")))
        where = f"{self.bucket}/{key} at {self.endpoint}"
        if code in _MISSING_CODES:
            return ObjectMissing(f"{where} does not exist", object_name=name)
        if code in _BUCKET_CODES:
            return BucketMissing(f"bucket {self.bucket!r} does not exist at {self.endpoint}",
                                 object_name=name)
        if code in _DENIED_CODES or status in (401, 403):
            return AccessDenied(f"S3 refused access to {where} ({code or status}): {text}",
                                object_name=name)
        return StorageFailure(f"S3 error reading {where} ({code or status}): {text}", object_name=name)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text
