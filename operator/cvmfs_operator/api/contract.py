"""The contract between the operator and the publisher program inside the pod.

One typed definition shared by both sides (see docs/publisher-contract.md):

* the operator renders a :class:`PublisherConfig` as JSON into the environment variable
  :data:`CONFIG_ENV` of the publisher container; nothing secret is in it;
* secrets are files mounted read-only at the fixed paths below;
* the publisher writes a :class:`PublisherResult` as JSON (always < 4096 bytes) to
  :data:`RESULT_PATH`, the pod's termination-message path, and exits with an :class:`ExitCode`.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal, NotRequired, TypedDict, cast

from cvmfs_operator.api.types import Payload, RepositorySettings

CONTRACT_VERSION = 1

CONFIG_ENV = "CVMFS_PUBLISHER_CONFIG"
RESULT_PATH = "/dev/termination-log"
RESULT_MAX_BYTES = 4096  # the kubelet truncates termination messages beyond this

# Read-only Secret mounts (mode 0400) in the publisher container.
KEYS_DIR = "/run/cvmfs/keys"  # <fqrn>.crt, <fqrn>.key, <fqrn>.pub (never /etc/cvmfs/keys itself)
S3_CREDENTIALS_DIR = "/run/cvmfs/s3"  # files named by S3_ACCESS_KEY_FILE / S3_SECRET_KEY_FILE
S3_ACCESS_KEY_FILE = "accessKeyId"
S3_SECRET_KEY_FILE = "secretAccessKey"
GATEWAY_KEY_DIR = "/run/cvmfs/gateway"  # <fqrn>.gw
# Writable volumes.
SPOOL_DIR = "/var/spool/cvmfs"  # emptyDir with the Repository's scratch size limit
STAGING_DIR = "/var/staging"  # emptyDir written by the unprivileged stage init container


class S3Target(TypedDict):
    endpoint: str  # scheme://host[:port]
    bucket: str
    region: str
    dnsBuckets: bool
    prefix: str  # key prefix ("alias") of the repository inside the bucket
    maxConnections: int
    acl: str


class GatewayTarget(TypedDict):
    url: str


class StagingSource(TypedDict):
    """The Repository's staging bucket: ``s3://<bucket>/…`` tarballs are read from this endpoint
    (with the repository's S3 credentials, when it has any)."""

    endpoint: str
    bucket: str
    region: str
    dnsBuckets: bool


class PublisherConfig(TypedDict):
    contractVersion: int
    fqrn: str
    stratum0Url: str
    s3: NotRequired[S3Target]
    gateway: NotRequired[GatewayTarget]
    staging: NotRequired[StagingSource]
    settings: RepositorySettings
    path: str  # the transaction path, absolute
    payload: Payload  # exactly one kind
    tagName: str
    tagDescription: str
    reflogChecksum: str | None  # from the previous publish; None when the operator knows none
    revisionBefore: int | None  # what the operator read from the manifest before starting
    transaction: str  # "<namespace>/<name>" for logs
    allowScripts: bool


class ExitCode(enum.IntEnum):
    SUCCEEDED = 0
    INTERNAL = 1  # a bug or an unexpected condition
    INVALID_INPUT = 2  # config, keys, credentials or payload are malformed or missing
    ATTACH_FAILED = 3  # the repository could not be configured or mounted
    BUSY = 4  # another transaction (or gateway lease) is open on the path
    PAYLOAD_FETCH_FAILED = 5  # tarball unreachable, S3 403/404
    PAYLOAD_FAILED = 6  # the payload was refused or failed while being applied
    PUBLISH_FAILED = 7  # cvmfs_server publish failed (signing, reflog, upload)
    CANCELLED = 8  # SIGTERM: deadline or pod deletion
    REFLOG_MISMATCH = 9  # cvmfs refused to sign: the bucket's .cvmfsreflog is not the one handed over
    CHECKSUM_MISMATCH = 10  # the downloaded tarball is not the one payload.tarball.sha256 names


class Outcome(enum.StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class ErrorClass(enum.StrEnum):
    INTERNAL = "Internal"
    INVALID_INPUT = "InvalidInput"
    ATTACH_FAILED = "AttachFailed"
    BUSY = "Busy"
    PAYLOAD_FETCH_FAILED = "PayloadFetchFailed"
    PAYLOAD_FAILED = "PayloadFailed"
    PUBLISH_FAILED = "PublishFailed"
    CANCELLED = "Cancelled"
    REFLOG_MISMATCH = "ReflogMismatch"
    CHECKSUM_MISMATCH = "ChecksumMismatch"


EXIT_CODES: dict[ErrorClass, ExitCode] = {
    ErrorClass.INTERNAL: ExitCode.INTERNAL,
    ErrorClass.INVALID_INPUT: ExitCode.INVALID_INPUT,
    ErrorClass.ATTACH_FAILED: ExitCode.ATTACH_FAILED,
    ErrorClass.BUSY: ExitCode.BUSY,
    ErrorClass.PAYLOAD_FETCH_FAILED: ExitCode.PAYLOAD_FETCH_FAILED,
    ErrorClass.PAYLOAD_FAILED: ExitCode.PAYLOAD_FAILED,
    ErrorClass.PUBLISH_FAILED: ExitCode.PUBLISH_FAILED,
    ErrorClass.CANCELLED: ExitCode.CANCELLED,
    ErrorClass.REFLOG_MISMATCH: ExitCode.REFLOG_MISMATCH,
    ErrorClass.CHECKSUM_MISMATCH: ExitCode.CHECKSUM_MISMATCH,
}

Step = Literal["configure", "mount", "transaction", "fetch", "payload", "publish", "abort"]


class PublisherResult(TypedDict):
    contractVersion: int
    outcome: str  # an Outcome value
    errorClass: str | None  # an ErrorClass value, None on success
    step: str | None  # the Step that failed, None on success
    message: str  # short, human readable, never secret
    revisionBefore: int | None
    revisionAfter: int | None
    rootHash: str | None
    tag: str | None
    reflogChecksum: str | None
    durations: dict[str, float]  # seconds per step
    leaseToken: str | None  # gateway mode: so a dead pod's lease can be dropped
    logTail: list[str]


def encode_config(config: PublisherConfig) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def decode_config(text: str) -> PublisherConfig:
    """Parse the config; shape errors raise ``ValueError`` naming the field."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{CONFIG_ENV} must be a JSON object")
    for field in ("contractVersion", "fqrn", "stratum0Url", "path", "payload", "tagName"):
        if field not in data:
            raise ValueError(f"{CONFIG_ENV} lacks the field {field!r}")
    if data["contractVersion"] != CONTRACT_VERSION:
        raise ValueError(
            f"{CONFIG_ENV} has contract version {data['contractVersion']!r}, expected {CONTRACT_VERSION}"
        )
    return cast(PublisherConfig, data)


def encode_result(result: PublisherResult) -> bytes:
    """Serialise the result within :data:`RESULT_MAX_BYTES`, dropping log lines, never fields.

    Log lines are dropped oldest first; if the fields alone are still too long, the message is
    shortened (it is the only free-text field).
    """
    trimmed: dict[str, Any] = dict(result)
    lines = list(result["logTail"])
    while True:
        trimmed["logTail"] = lines
        raw = json.dumps(trimmed, separators=(",", ":")).encode()
        if len(raw) < RESULT_MAX_BYTES:
            return raw
        if lines:
            lines = lines[1:]
            continue
        message = str(trimmed["message"])
        excess = len(raw) - RESULT_MAX_BYTES + 1
        trimmed["message"] = message[: max(0, len(message) - excess - 3)] + "..."
        if len(trimmed["message"]) <= 3:
            raise ValueError("publisher result fields alone exceed the termination message limit")


def decode_result(raw: str | bytes) -> PublisherResult:
    """Parse a termination message; raises ``ValueError`` if it is not a publisher result."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("publisher result is not a JSON object")
    missing = [name for name in PublisherResult.__annotations__ if name not in data]
    if missing:
        raise ValueError(f"publisher result lacks {', '.join(sorted(missing))}")
    if data["outcome"] not in {o.value for o in Outcome}:
        raise ValueError(f"publisher result has an unknown outcome {data['outcome']!r}")
    if data["errorClass"] is not None and data["errorClass"] not in {e.value for e in ErrorClass}:
        raise ValueError(f"publisher result has an unknown error class {data['errorClass']!r}")
    return cast(PublisherResult, data)
