"""The contract between the operator and the repository-operation program inside a pod.

The second mode of ``cvmfs-publisher`` (see docs/publisher-contract.md, "Repository operations"):

* the operator renders an :class:`OperationConfig` as JSON into :data:`OPERATION_CONFIG_ENV` (and
  never sets :data:`contract.CONFIG_ENV` in the same container); nothing secret is in it;
* keys are files mounted read-only: ``<fqrn>.crt``/``.pub``/``.key`` in :data:`contract.KEYS_DIR`,
  ``<fqrn>.masterkey`` in :data:`MASTER_KEY_DIR` (only for ``create`` and ``resign``), the S3
  credentials in :data:`contract.S3_CREDENTIALS_DIR`; :data:`KEYS_NEEDED` says which per kind;
* the program writes an :class:`OperationResult` as JSON (< 4096 bytes) to the termination-message
  path and exits with an :class:`OperationExitCode`.

Error classes and exit codes shared with publishing keep their names and numbers
(:class:`contract.ErrorClass`, :class:`contract.ExitCode`); the new ones start at 11.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal, NotRequired, TypedDict, cast

from cvmfs_operator.api import contract
from cvmfs_operator.api.contract import GatewayTarget, S3Target
from cvmfs_operator.api.types import RepositorySettings

OPERATION_CONTRACT_VERSION = 1
OPERATION_CONFIG_ENV = "CVMFS_OPERATION_CONFIG"
MASTER_KEY_DIR = "/run/cvmfs/masterkey"  # <fqrn>.masterkey, its own Secret (create, resign only)

OperationKind = Literal["create", "rollback", "tag", "resign", "gc", "check"]
OPERATION_KINDS: tuple[OperationKind, ...] = ("create", "rollback", "tag", "resign", "gc", "check")

# Which key files each kind needs (suffixes of <fqrn>): what the cvmfs_server scripts read.
KEYS_NEEDED: dict[OperationKind, tuple[str, ...]] = {
    "create": (".masterkey", ".crt", ".pub", ".key"),  # mkfs: whitelist, manifest, mount
    "rollback": (".crt", ".pub", ".key"),  # mount (.pub) and sign_manifest (.crt, .key)
    "tag": (".crt", ".pub", ".key"),
    "resign": (".masterkey", ".crt"),  # create_whitelist: masterkey signs, .crt's fingerprint listed
    "gc": (".pub",),  # mount and swissknife gc -k; gc signs nothing
    "check": (".pub",),
}


# The parameters mirror the RepositoryOperation spec (api/types.py) field for field.
class CreateParameters(TypedDict, total=False):
    whitelistDays: int  # mkfs always signs 30 days; another value is a `resign -d` right after


class RollbackParameters(TypedDict):
    tag: str  # rollback -t <tag>; trunk/trunk-previous are refused (name a tag)


class TagParameters(TypedDict):
    action: Literal["add", "move", "remove"]
    name: str
    revision: NotRequired[int]  # add/move: the root catalog a tag of that revision names (tag -h)
    description: NotRequired[str]  # add/move; inert (api.inert.description_error)


class ResignParameters(TypedDict, total=False):
    whitelistDays: int  # resign -d <days> (default 30; beyond 30 the script asks: -f)


class GcParameters(TypedDict, total=False):
    keepRevisions: int  # gc -r <n>: the head plus n earlier revisions
    keepSince: str  # RFC 3339; gc -t @<unix seconds>: revisions added since then
    dryRun: bool  # gc -d


class CheckParameters(TypedDict, total=False):
    tag: str  # check -t <tag>
    chunks: bool  # default True; False: check -c (no data-object existence check)
    repairReflog: bool  # check -r (re-hashes .cvmfsreflog into reflog.chksum first)


DEFAULT_WHITELIST_DAYS = 30  # mkfs and resign (create_whitelist)
MAX_WHITELIST_DAYS = 365


class OperationConfig(TypedDict):
    contractVersion: int  # OPERATION_CONTRACT_VERSION
    operation: OperationKind
    fqrn: str
    stratum0Url: str
    s3: NotRequired[S3Target]
    gateway: NotRequired[GatewayTarget]  # only `check` works through a gateway
    settings: RepositorySettings
    reflogChecksum: str | None  # from the last publish or operation; gc needs it
    revisionBefore: int | None
    request: str  # "<namespace>/<name>" of the operation, for logs
    # exactly the one of these that `operation` names
    create: NotRequired[CreateParameters]
    rollback: NotRequired[RollbackParameters]
    tag: NotRequired[TagParameters]
    resign: NotRequired[ResignParameters]
    gc: NotRequired[GcParameters]
    check: NotRequired[CheckParameters]


class OperationErrorClass(enum.StrEnum):
    INTERNAL = contract.ErrorClass.INTERNAL.value
    INVALID_INPUT = contract.ErrorClass.INVALID_INPUT.value
    ATTACH_FAILED = contract.ErrorClass.ATTACH_FAILED.value
    BUSY = contract.ErrorClass.BUSY.value
    CANCELLED = contract.ErrorClass.CANCELLED.value
    REFLOG_MISMATCH = contract.ErrorClass.REFLOG_MISMATCH.value
    ALREADY_EXISTS = "AlreadyExists"  # create: the bucket prefix already holds a repository
    NOT_ALLOWED = "NotAllowed"  # gc without garbage collection; reserved tag names
    NOT_FOUND = "NotFound"  # rollback/tag remove/check -t: no such tag
    CHECK_FAILED = "CheckFailed"  # check found problems (the repository is damaged)
    OPERATION_FAILED = "OperationFailed"  # cvmfs_server failed otherwise


class OperationExitCode(enum.IntEnum):
    SUCCEEDED = contract.ExitCode.SUCCEEDED.value
    INTERNAL = contract.ExitCode.INTERNAL.value
    INVALID_INPUT = contract.ExitCode.INVALID_INPUT.value
    ATTACH_FAILED = contract.ExitCode.ATTACH_FAILED.value
    BUSY = contract.ExitCode.BUSY.value
    CANCELLED = contract.ExitCode.CANCELLED.value
    REFLOG_MISMATCH = contract.ExitCode.REFLOG_MISMATCH.value
    ALREADY_EXISTS = 11
    NOT_ALLOWED = 12
    NOT_FOUND = 13
    CHECK_FAILED = 14
    OPERATION_FAILED = 15


OPERATION_EXIT_CODES: dict[OperationErrorClass, OperationExitCode] = {
    error_class: OperationExitCode[error_class.name] for error_class in OperationErrorClass}

OperationStep = Literal["configure", "inspect", "mount", "operate", "read", "abort"]


class GcFigures(TypedDict):
    dryRun: bool
    objectsDeleted: int  # lines of gc's deletion log (-L): objects it deleted, or would delete


class CheckFigures(TypedDict):
    passed: bool
    findings: list[str]  # check's own problem lines (at most 10), e.g. "data chunk … missing"


class OperationResult(TypedDict):
    contractVersion: int
    operation: str
    outcome: str  # a contract.Outcome value
    errorClass: str | None  # an OperationErrorClass value, None on success
    step: str | None  # the OperationStep that failed
    message: str
    revisionBefore: int | None
    revisionAfter: int | None
    rootHash: str | None
    reflogChecksum: str | None  # hand it to the next publisher (gc re-hashes the reflog)
    whitelistExpiry: str | None  # create/resign: the new E line, ISO 8601 UTC
    gc: GcFigures | None
    check: CheckFigures | None
    durations: dict[str, float]
    logTail: list[str]


def encode_operation_config(config: OperationConfig) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def decode_operation_config(text: str) -> OperationConfig:
    """Parse the config; shape errors raise ``ValueError`` naming the field."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{OPERATION_CONFIG_ENV} must be a JSON object")
    for field in ("contractVersion", "operation", "fqrn", "stratum0Url"):
        if field not in data:
            raise ValueError(f"{OPERATION_CONFIG_ENV} lacks the field {field!r}")
    if data["contractVersion"] != OPERATION_CONTRACT_VERSION:
        raise ValueError(f"{OPERATION_CONFIG_ENV} has contract version {data['contractVersion']!r}, "
                         f"expected {OPERATION_CONTRACT_VERSION}")
    if data["operation"] not in OPERATION_KINDS:
        raise ValueError(f"unknown operation {data['operation']!r}; "
                         f"expected one of {', '.join(OPERATION_KINDS)}")
    return cast(OperationConfig, data)


def encode_operation_result(result: OperationResult) -> bytes:
    """Within :data:`contract.RESULT_MAX_BYTES`: the publisher result's trimming (oldest log lines,
    then the message), which touches only ``logTail`` and ``message``."""
    return contract.encode_result(cast(contract.PublisherResult, result))


def decode_operation_result(raw: str | bytes) -> OperationResult:
    data: Any = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("operation result is not a JSON object")
    missing = [name for name in OperationResult.__annotations__ if name not in data]
    if missing:
        raise ValueError(f"operation result lacks {', '.join(sorted(missing))}")
    if data["errorClass"] is not None and data["errorClass"] not in {e.value for e in OperationErrorClass}:
        raise ValueError(f"operation result has an unknown error class {data['errorClass']!r}")
    return cast(OperationResult, data)
