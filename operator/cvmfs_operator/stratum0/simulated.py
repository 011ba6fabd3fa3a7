"""A simulated Stratum 0 writer for the demo and the tests: what a publish leaves in storage.

It writes what ``cvmfs_server publish -a <tag>`` leaves in the bucket (CVMFS.md "Verified"): a new
``.cvmfspublished`` with the next revision, a tag database holding every earlier tag plus the new
one, and a new ``.cvmfsreflog`` whose hash is the manifest's ``Y``. Nothing is signed and no
catalog is real: this stands in for a publisher where no CernVM-FS exists, so that the operator's
own reading of the repository (revision, tags, whitelist) works against real objects.

Objects go to an :class:`ObjectStore`: an S3 bucket (:class:`Bucket`, over boto3) or memory
(:class:`MemoryStore`, which is also a Stratum 0 reader, for the demo).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import botocore.exceptions

from cvmfs_operator.api import contract, inert
from cvmfs_operator.stratum0 import layout
from cvmfs_operator.stratum0.errors import ObjectMissing
from cvmfs_operator.stratum0.manifest import parse_manifest
from cvmfs_operator.stratum0.reader import ObjectReader, data_object_name
from cvmfs_operator.stratum0.s3_clients import ClientKey, shared_pool
from cvmfs_operator.stratum0.tags import list_tags

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectStore(Protocol):
    """Where a repository's objects live; names are relative to the repository root."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, body: bytes) -> None: ...


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket (path-style addressing) and the key prefix of one repository in it."""

    endpoint: str
    bucket: str
    prefix: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self) -> S3Client:
        return self._client

    @functools.cached_property
    def _client(self) -> S3Client:
        # From the process's shared pool: a client from a fresh boto3 Session costs ~150 ms of CPU,
        # and the simulated kubelet builds a Bucket per publish.
        return shared_pool().client(ClientKey(
            endpoint=self.endpoint, region=self.region, addressing="path", access_key=self.access_key,
            secret_key=self.secret_key, connect_timeout=10.0, read_timeout=30.0, attempts=2))

    def get(self, name: str) -> bytes | None:
        try:
            return self.client().get_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")["Body"].read()
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def put(self, name: str, body: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}", Body=body,
                                 ACL="public-read")


class MemoryStore(ObjectReader):
    """A repository's objects in memory: written like a bucket, read like a Stratum 0."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> bytes | None:
        with self._guard:
            return self._objects.get(name)

    def put(self, name: str, body: bytes) -> None:
        with self._guard:
            self._objects[name] = body

    def get_object(self, name: str) -> bytes:
        body = self.get(name)
        if body is None:
            raise ObjectMissing(f"{name} does not exist in the simulated repository", object_name=name)
        return body


@dataclass(frozen=True)
class SimulatedPublish:
    revision_before: int
    revision_after: int
    root_hash: str
    reflog_hash: str


class TagExists(ValueError):
    """cvmfs refuses to publish a tag name that is already in the repository."""


def _write_revision(store: ObjectStore, fqrn: str, revision: int, tags: list[layout.Tag],
                    now: datetime.datetime) -> SimulatedPublish:
    root_hash = layout.fake_hash(f"{fqrn} root catalog {revision}")
    database = layout.tag_database_bytes(tags)
    tag_hash = hashlib.sha1(database).hexdigest()
    store.put(data_object_name(tag_hash, "H"), database)
    reflog = f"simulated reflog of {fqrn} up to revision {revision}\n".encode()
    reflog_hash = hashlib.sha1(reflog).hexdigest()
    store.put(".cvmfsreflog", reflog)
    store.put(".cvmfspublished", layout.manifest_bytes(layout.ManifestFields(
        revision=revision, root_hash=root_hash, timestamp=int(now.timestamp()), fqrn=fqrn,
        tag_db_hash=tag_hash, reflog_hash=reflog_hash)))
    return SimulatedPublish(revision - 1, revision, root_hash, reflog_hash)


def seed_repository(store: ObjectStore, fqrn: str, now: datetime.datetime,
                    whitelist_days: float = 30.0) -> SimulatedPublish:
    """An existing repository at revision 2 (as after ``mkfs``), with a whitelist."""
    created = now.astimezone(datetime.UTC).replace(tzinfo=None)
    store.put(".cvmfswhitelist", layout.whitelist_bytes(
        fqrn, created, created + datetime.timedelta(days=whitelist_days)))
    root = layout.fake_hash(f"{fqrn} root catalog 2")
    tags = [layout.Tag("trunk", root, 2, int(now.timestamp()), "current HEAD")]
    return _write_revision(store, fqrn, 2, tags, now)


def publish(store: ObjectStore, fqrn: str, tag: str, description: str,
            now: datetime.datetime) -> SimulatedPublish:
    """Publish the next revision with ``tag`` (refused if the tag exists, as cvmfs does)."""
    raw = store.get(".cvmfspublished")
    if raw is None:
        raise FileNotFoundError(f"{fqrn}: .cvmfspublished does not exist: seed the repository")
    manifest = parse_manifest(raw)
    tags: list[layout.Tag] = []
    if manifest.tag_db_hash:
        database = store.get(data_object_name(manifest.tag_db_hash, "H"))
        if database is not None:
            tags = [layout.Tag(t.name, t.root_hash, t.revision, t.timestamp, t.description)
                    for t in list_tags(database)]
    if any(t.name == tag for t in tags):
        raise TagExists(f"tag {tag!r} already exists in {fqrn}")
    revision = manifest.revision + 1
    root_hash = layout.fake_hash(f"{fqrn} root catalog {revision}")
    stamp = int(now.timestamp())
    kept = [t for t in tags if t.name not in ("trunk", "trunk-previous")]
    previous = next((t for t in tags if t.name == "trunk"), None)
    kept.append(layout.Tag(tag, root_hash, revision, stamp, description))
    kept.append(layout.Tag("trunk", root_hash, revision, stamp, "current HEAD"))
    if previous is not None:
        kept.append(layout.Tag("trunk-previous", previous.hash, previous.revision, previous.timestamp,
                               "default undo target"))
    return _write_revision(store, fqrn, revision, kept, now)


def signing_refusal(store: ObjectStore, fqrn: str, checksum: str | None) -> str | None:
    """What ``cvmfs_swissknife sign`` says when ``.cvmfsreflog`` is not the one the checksum (or the
    manifest's ``Y`` without one) names (CVMFS.md §1.8); None when signing would go ahead."""
    reflog = store.get(".cvmfsreflog")
    if checksum is None:
        raw = store.get(".cvmfspublished")
        checksum = parse_manifest(raw).reflog_hash if raw is not None else None
    if reflog is None:
        return None if checksum is None else (
            f"reflog for '{fqrn}' not found but reflog checksum is present; Signing failed")
    if checksum is None:
        return "no reflog hash specified but reflog is present; Signing failed"
    if hashlib.sha1(reflog).hexdigest() != checksum:
        return (f"data corruption in .cvmfsreflog for {fqrn}, run `cvmfs_server check -r` to fix; "
                "Signing failed")
    return None


def _result(tag: str, *, error: contract.ErrorClass | None = None, step: str | None = None,
            message: str = "", done: SimulatedPublish | None = None,
            fqrn: str = "") -> contract.PublisherResult:
    return {
        "contractVersion": contract.CONTRACT_VERSION,
        "outcome": (contract.Outcome.FAILED if error else contract.Outcome.SUCCEEDED).value,
        "errorClass": error.value if error else None,
        "step": step,
        "message": message,
        "revisionBefore": done.revision_before if done else None,
        "revisionAfter": done.revision_after if done else None,
        "rootHash": done.root_hash if done else None,
        "tag": tag,
        "reflogChecksum": done.reflog_hash if done else None,
        "durations": {"mount": 0.1, "payload": 0.1, "publish": 0.1} if done else {},
        "leaseToken": None,
        "logTail": [f"[simulated] {fqrn}: {message}"],
    }


StoreFor = Callable[[contract.PublisherConfig], ObjectStore | None]


def publisher(store_for: StoreFor, clock: Callable[[], datetime.datetime] | None = None,
              ) -> Callable[[contract.PublisherConfig], contract.PublisherResult]:
    """A stand-in for the publisher program: publishes as its config asks, into its store."""
    def run(config: contract.PublisherConfig) -> contract.PublisherResult:
        fqrn, tag = config["fqrn"], config["tagName"]
        store = store_for(config)
        if store is None:
            return _result(tag, error=contract.ErrorClass.INVALID_INPUT, step="configure", fqrn=fqrn,
                           message="the simulation has no storage for this repository")
        now = clock() if clock else datetime.datetime.now(datetime.UTC)
        problem = inert.description_error(config["tagDescription"], inert.PUBLISHED_DESCRIPTION_MAX)
        if problem:  # what the real publisher refuses before it runs cvmfs_server
            return _result(tag, error=contract.ErrorClass.INVALID_INPUT, step="configure", fqrn=fqrn,
                           message=f"tagDescription {problem}")
        refusal = signing_refusal(store, fqrn, config["reflogChecksum"])
        if refusal is not None:
            return _result(tag, error=contract.ErrorClass.REFLOG_MISMATCH, step="publish", fqrn=fqrn,
                           message=refusal)
        try:
            done = publish(store, fqrn, tag, config["tagDescription"], now)
        except TagExists as error:
            return _result(tag, error=contract.ErrorClass.PUBLISH_FAILED, step="publish", fqrn=fqrn,
                           message=str(error))
        return _result(tag, done=done, fqrn=fqrn,
                       message=f"published revision {done.revision_after} tagged {tag}")
    return run


def s3_stores(access_key: str, secret_key: str) -> StoreFor:
    """The S3 bucket a publisher config names, with these credentials."""
    def store_for(config: contract.PublisherConfig) -> ObjectStore | None:
        s3 = config.get("s3")
        if s3 is None:
            return None
        return Bucket(s3["endpoint"], s3["bucket"], s3["prefix"], access_key, secret_key, s3["region"])
    return store_for
