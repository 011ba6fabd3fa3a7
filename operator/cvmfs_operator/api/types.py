"""Typed views of the Repository, Transaction and RepositoryOperation custom resources
(group ``cvmfs.cern.ch``).

These mirror ``crds/*.yaml``: the CRD schema is the admission-time truth, these types are what the
Python code reads. Field names are the camelCase names of the API.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

GROUP = "cvmfs.cern.ch"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
REPOSITORY_PLURAL = "repositories"
TRANSACTION_PLURAL = "transactions"
OPERATION_PLURAL = "repositoryoperations"


class SecretRef(TypedDict):
    name: str


class S3Spec(TypedDict):
    endpoint: str  # scheme://host[:port]
    bucket: str
    region: NotRequired[str]
    addressing: NotRequired[Literal["path", "virtual"]]  # virtual == DNS-style buckets
    prefix: NotRequired[str]  # the key prefix ("alias") inside the bucket; default: the FQRN
    credentialsSecretRef: SecretRef  # keys: accessKeyId, secretAccessKey
    maxConnections: NotRequired[int]
    acl: NotRequired[str]  # x-amz-acl for uploads; "" omits the header


class GatewaySpec(TypedDict):
    url: str  # http(s)://gateway:4929/api/v1
    keySecretRef: SecretRef  # key: <fqrn>.gw


class Stratum0Spec(TypedDict):
    url: str  # public HTTP(S) URL the manifest is read from (CVMFS_STRATUM0)
    s3: NotRequired[S3Spec]
    gateway: NotRequired[GatewaySpec]


class RepositorySettings(TypedDict, total=False):
    """server.conf values that must match the repository's original publisher."""

    hashAlgorithm: Literal["sha1", "rmd160", "shake128"]
    compressionAlgorithm: Literal["default", "zlib", "none"]
    garbageCollection: bool
    autoTag: bool


class Toleration(TypedDict, total=False):
    key: str
    operator: str
    value: str
    effect: str
    tolerationSeconds: int


class PublisherSpec(TypedDict, total=False):
    image: str
    imagePullPolicy: Literal["Always", "IfNotPresent", "Never"]
    resources: dict[str, dict[str, str]]
    scratchSize: str  # a Kubernetes quantity, e.g. "20Gi"
    nodeSelector: dict[str, str]
    tolerations: list[Toleration]
    privilegeMode: Literal["Privileged", "DevicePlugin"]
    fuseDeviceResource: str  # extended resource name in DevicePlugin mode
    allowScripts: bool


class StagingS3Spec(TypedDict):
    """Where release managers upload tarballs (with their own credentials), e.g. kubectl cvmfs."""

    endpoint: str  # scheme://host[:port]
    bucket: str
    prefix: NotRequired[str]  # default: staging/<fqrn>
    region: NotRequired[str]
    addressing: NotRequired[Literal["path", "virtual"]]


class StagingSpec(TypedDict):
    s3: StagingS3Spec


class CreateSpec(TypedDict, total=False):
    """Create the repository in its bucket (cvmfs_server mkfs); never over an existing one."""

    whitelistDays: int


class ResignSchedule(TypedDict, total=False):
    enabled: bool  # default True
    leadTime: str  # Go duration, default "168h"
    whitelistDays: int  # default 30


class GCSchedule(TypedDict):
    schedule: str  # 5-field cron, UTC (api.operations.next_fire)
    keepRevisions: NotRequired[int]
    keepFor: NotRequired[str]  # Go duration; exclusive with keepRevisions


class CheckSchedule(TypedDict):
    schedule: str
    chunks: NotRequired[bool]  # default True


class MaintenanceSpec(TypedDict, total=False):
    resign: ResignSchedule
    gc: GCSchedule
    check: CheckSchedule


class RepositorySpec(TypedDict):
    stratum0: Stratum0Spec
    keysSecretRef: SecretRef
    masterKeySecretRef: NotRequired[SecretRef]  # <fqrn>.masterkey only; never in publisher pods
    allowedNamespaces: list[str]  # "*" allows every namespace
    settings: NotRequired[RepositorySettings]
    publisher: NotRequired[PublisherSpec]
    staging: NotRequired[StagingSpec]
    create: NotRequired[CreateSpec]
    maintenance: NotRequired[MaintenanceSpec]


class Condition(TypedDict):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: NotRequired[int]


class TransactionRef(TypedDict):
    namespace: str
    name: str
    uid: str


class ReflogMismatch(TypedDict):
    expected: str
    found: str
    bucketRevision: int | None
    lastPublishedRevision: int | None
    detectedAt: str


class MaintenanceRecord(TypedDict):
    time: str  # when the RepositoryOperation finished
    result: Literal["Succeeded", "Failed"]
    operation: str  # "<namespace>/<name>"


class RepositoryStatus(TypedDict, total=False):
    observedGeneration: int
    revision: int
    rootHash: str
    publishedAt: str
    lastPublishTime: str
    whitelistExpiresAt: str
    reflogChecksum: str
    reflogRevision: int
    reflogMismatch: ReflogMismatch | None
    activeTransaction: TransactionRef | None
    queueLength: int
    lastResign: MaintenanceRecord | None
    lastGC: MaintenanceRecord | None
    lastCheck: MaintenanceRecord | None
    conditions: list[Condition]


class TarballPayload(TypedDict):
    url: str  # http(s)://… or s3://bucket/key (the staging bucket, else the Repository's S3 endpoint)
    sha256: NotRequired[str]  # 64 lowercase hex digits; checked by the publisher before unpacking


class StagePayload(TypedDict):
    image: str
    command: NotRequired[list[str]]
    args: NotRequired[list[str]]


class RemovePayload(TypedDict):
    paths: list[str]  # relative to spec.path


class ScriptPayload(TypedDict):
    source: str


class Payload(TypedDict, total=False):
    tarball: TarballPayload
    stage: StagePayload
    remove: RemovePayload
    script: ScriptPayload


PayloadKind = Literal["tarball", "stage", "remove", "script"]
PAYLOAD_KINDS: tuple[PayloadKind, ...] = ("tarball", "stage", "remove", "script")


class TagSpec(TypedDict, total=False):
    name: str
    description: str


class TransactionSpec(TypedDict):
    repository: str
    path: NotRequired[str]  # absolute, normalised; default "/"
    payload: Payload
    tag: NotRequired[TagSpec]
    timeoutSeconds: NotRequired[int]
    backoffLimit: NotRequired[int]
    ttlSecondsAfterFinished: NotRequired[int]
    resources: NotRequired[dict[str, dict[str, str]]]


class AttemptFailure(TypedDict):
    attempt: int
    reason: str
    message: str


class TransactionStatus(TypedDict, total=False):
    phase: str
    reason: str
    message: str
    observedGeneration: int
    conditions: list[Condition]
    queuePosition: int | None
    podName: str | None
    attempts: int
    tag: str
    startTime: str | None
    completionTime: str | None
    duration: str  # completionTime - startTime, Go form (2m13s): the Duration printer column
    revisionBefore: int | None
    revisionAfter: int | None
    rootHash: str | None
    reflogChecksum: str | None
    durations: dict[str, float]
    timeline: dict[str, float]
    logTail: list[str]
    lastFailure: AttemptFailure  # the latest failed attempt; a retry follows within backoffLimit


class RollbackOperation(TypedDict):
    tag: str


class TagOperation(TypedDict):
    action: Literal["add", "move", "remove"]
    name: str
    revision: NotRequired[int]  # add, move: default the current revision
    description: NotRequired[str]  # add, move; api.inert rules


class ResignOperation(TypedDict, total=False):
    whitelistDays: int  # default 30


class GCOperation(TypedDict, total=False):
    keepRevisions: int
    keepSince: str  # RFC 3339; exclusive with keepRevisions; neither: cvmfs_server's "3 days ago"
    dryRun: bool


class CheckOperation(TypedDict, total=False):
    tag: str
    chunks: bool  # default True


OperationKind = Literal["rollback", "tag", "resign", "gc", "check"]
OPERATION_KINDS: tuple[OperationKind, ...] = ("rollback", "tag", "resign", "gc", "check")


class RepositoryOperationSpec(TypedDict):
    repository: str
    rollback: NotRequired[RollbackOperation]
    tag: NotRequired[TagOperation]
    resign: NotRequired[ResignOperation]
    gc: NotRequired[GCOperation]
    check: NotRequired[CheckOperation]
    timeoutSeconds: NotRequired[int]
    backoffLimit: NotRequired[int]


class GCResult(TypedDict, total=False):
    dryRun: bool
    condemnedCatalogs: int | None
    condemnedObjects: int | None
    condemnedBytes: int | None


class CheckResult(TypedDict, total=False):
    passed: bool
    revision: int | None
    problems: list[str]


class RepositoryOperationStatus(TypedDict, total=False):
    operation: OperationKind  # the Operation printer column
    phase: str
    reason: str
    message: str
    observedGeneration: int
    conditions: list[Condition]
    queuePosition: int | None
    podName: str | None
    attempts: int
    startTime: str | None
    completionTime: str | None
    duration: str
    revisionBefore: int | None
    revisionAfter: int | None
    rootHash: str | None
    reflogChecksum: str | None
    whitelistExpiresAt: str | None
    gc: GCResult | None
    check: CheckResult | None
    durations: dict[str, float]
    timeline: dict[str, float]
    logTail: list[str]
    lastFailure: AttemptFailure


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    finalizers: list[str]


class Repository(TypedDict):
    metadata: ObjectMeta
    spec: RepositorySpec
    status: NotRequired[RepositoryStatus]


class Transaction(TypedDict):
    metadata: ObjectMeta
    spec: TransactionSpec
    status: NotRequired[TransactionStatus]


class RepositoryOperation(TypedDict):
    metadata: ObjectMeta
    spec: RepositoryOperationSpec
    status: NotRequired[RepositoryOperationStatus]


Manifest = dict[str, Any]  # a rendered Kubernetes object, ready for the API
