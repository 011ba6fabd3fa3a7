"""SIMULATION of the operation program (``cvmfs-operation``) for the demo and the tests: what each
repository operation leaves in storage, as :mod:`stratum0.simulated` does for publishing.

* ``rollback -t T``: a new revision; tags after T's revision removed, T re-pointed at the new one
  (cvmfs's ``tag_rollback``); refused at the current head ("not rolling back to current head");
* ``tag``: add, move or remove a tag (the manifest is re-signed, the revision stays);
* ``resign -d N``: a new whitelist valid N days from now;
* ``gc``: nothing is deleted (no objects are real); the reflog checksum is reported;
* ``check``: passes, unless the tag it is asked to check does not exist;
* ``create``: a seeded repository, refused when the bucket already holds one.

Nothing is signed. Results are :class:`OperationResult` as the real program writes them.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import (
    OPERATION_CONTRACT_VERSION,
    OperationConfig,
    OperationErrorClass,
    OperationResult,
)
from cvmfs_operator.stratum0 import layout
from cvmfs_operator.stratum0.manifest import Manifest, parse_manifest
from cvmfs_operator.stratum0.reader import data_object_name
from cvmfs_operator.stratum0.simulated import ObjectStore, _write_revision, seed_repository, signing_refusal
from cvmfs_operator.stratum0.tags import list_tags

E = OperationErrorClass
StoreFor = Callable[[Any], ObjectStore | None]  # from a config (its fqrn, s3): simulated.s3_stores
Clock = Callable[[], datetime.datetime]
UNDO_TAGS = ("trunk", "trunk-previous")


class _Refused(Exception):  # an outcome, carrying the result's error class
    def __init__(self, error: OperationErrorClass, step: str, message: str) -> None:
        super().__init__(message)
        self.error, self.step, self.message = error, step, message


def _result(config: OperationConfig, **fields: Any) -> OperationResult:
    result: dict[str, Any] = {
        "contractVersion": OPERATION_CONTRACT_VERSION, "operation": config["operation"],
        "outcome": contract.Outcome.SUCCEEDED.value, "errorClass": None, "step": None, "message": "",
        "revisionBefore": config.get("revisionBefore"), "revisionAfter": None, "rootHash": None,
        "reflogChecksum": None, "whitelistExpiry": None, "gc": None, "check": None,
        "durations": {"operate": 0.1}, "logTail": [],
    }
    result.update(fields)
    result["logTail"] = [f"[simulated] {config['fqrn']}: {result['message']}"]
    return result  # type: ignore[return-value]


def failed(config: OperationConfig, error: OperationErrorClass, step: str, message: str,
           **fields: Any) -> OperationResult:
    return _result(config, outcome=contract.Outcome.FAILED.value, errorClass=error.value, step=step,
                   message=message, **fields)


def _manifest(store: ObjectStore, fqrn: str) -> Manifest:
    raw = store.get(".cvmfspublished")
    if raw is None:
        raise _Refused(E.ATTACH_FAILED, "mount", f"{fqrn}: .cvmfspublished does not exist")
    return parse_manifest(raw)


def _tags(store: ObjectStore, manifest: Manifest) -> list[layout.Tag]:
    database = store.get(data_object_name(manifest.tag_db_hash, "H")) if manifest.tag_db_hash else None
    if database is None:
        return []
    return [layout.Tag(t.name, t.root_hash, t.revision, t.timestamp, t.description)
            for t in list_tags(database)]


def _reflog_hash(store: ObjectStore) -> str | None:
    reflog = store.get(".cvmfsreflog")
    return None if reflog is None else hashlib.sha1(reflog).hexdigest()


def _signing(store: ObjectStore, config: OperationConfig) -> None:
    refusal = signing_refusal(store, config["fqrn"], config.get("reflogChecksum"))
    if refusal is not None:
        raise _Refused(E.REFLOG_MISMATCH, "operate", refusal)


def _rollback(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    fqrn, name = config["fqrn"], config["rollback"]["tag"]
    manifest = _manifest(store, fqrn)
    tags = _tags(store, manifest)
    target = next((t for t in tags if t.name == name), None)
    if target is None:
        raise _Refused(E.NOT_FOUND, "operate", f"tag '{name}' does not exist")
    if target.revision == manifest.revision:
        raise _Refused(E.OPERATION_FAILED, "operate",
                       f"not rolling back to current head ({manifest.revision})")
    _signing(store, config)
    revision = manifest.revision + 1
    root = layout.fake_hash(f"{fqrn} root catalog {revision}")
    stamp = int(now.timestamp())
    kept = [t for t in tags if t.revision <= target.revision and t.name not in (name, *UNDO_TAGS)]
    kept += [layout.Tag(name, root, revision, stamp, target.description),
             layout.Tag("trunk", root, revision, stamp, "current HEAD")]
    done = _write_revision(store, fqrn, revision, kept, now)
    return {"revisionBefore": manifest.revision, "revisionAfter": revision, "rootHash": done.root_hash,
            "reflogChecksum": done.reflog_hash, "message": f"rolled back to {name} as revision {revision}"}


def _tag(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    fqrn, spec = config["fqrn"], config["tag"]
    name, action = spec["name"], spec["action"]
    manifest = _manifest(store, fqrn)
    tags = _tags(store, manifest)
    existing = next((t for t in tags if t.name == name), None)
    if action == "remove":
        if existing is None:
            raise _Refused(E.NOT_FOUND, "operate", f"tag '{name}' does not exist")
        tags = [t for t in tags if t.name != name]
    else:
        if action == "add" and existing is not None:
            raise _Refused(E.ALREADY_EXISTS, "operate", f"tag '{name}' already exists")
        revision = spec.get("revision", manifest.revision)
        named = next((t for t in tags if t.revision == revision), None)
        if named is None:
            raise _Refused(E.NOT_FOUND, "operate", f"no tag names revision {revision}")
        tags = [t for t in tags if t.name != name]
        tags.append(layout.Tag(name, named.hash, revision, int(now.timestamp()), spec.get("description", "")))
    _signing(store, config)
    done = _write_revision(store, fqrn, manifest.revision, tags, now)
    return {"revisionBefore": manifest.revision, "revisionAfter": manifest.revision,
            "rootHash": done.root_hash, "reflogChecksum": done.reflog_hash,
            "message": f"tag {name}: {action} done"}


def _resign(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    days = int(config.get("resign", {}).get("whitelistDays", 30))
    created = now.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
    expires = created + datetime.timedelta(days=days)
    store.put(".cvmfswhitelist", layout.whitelist_bytes(config["fqrn"], created, expires))
    return {"whitelistExpiry": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": f"whitelist re-signed for {days} days"}


def _gc(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    manifest = _manifest(store, config["fqrn"])
    dry = bool(config.get("gc", {}).get("dryRun", False))
    return {"revisionBefore": manifest.revision, "revisionAfter": manifest.revision,
            "rootHash": manifest.root_hash, "reflogChecksum": _reflog_hash(store),
            "gc": {"dryRun": dry, "objectsDeleted": 0}, "message": "garbage collected (simulated: nothing)"}


def _check(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    manifest = _manifest(store, config["fqrn"])
    name = config.get("check", {}).get("tag")
    if name and not any(t.name == name for t in _tags(store, manifest)):
        raise _Refused(E.NOT_FOUND, "operate", f"tag '{name}' does not exist")
    return {"revisionBefore": manifest.revision, "check": {"passed": True, "findings": []},
            "message": f"checked revision {manifest.revision}: no problems"}


def _create(store: ObjectStore, config: OperationConfig, now: datetime.datetime) -> dict[str, Any]:
    if store.get(".cvmfspublished") is not None:
        raise _Refused(E.ALREADY_EXISTS, "inspect", f"the bucket already holds {config['fqrn']}")
    days = float(config.get("create", {}).get("whitelistDays", 30))
    done = seed_repository(store, config["fqrn"], now, days)
    return {"revisionAfter": done.revision_after, "rootHash": done.root_hash,
            "reflogChecksum": done.reflog_hash, "message": f"created {config['fqrn']}"}


KINDS = {"rollback": _rollback, "tag": _tag, "resign": _resign, "gc": _gc, "check": _check, "create": _create}


def operator(store_for: StoreFor, clock: Clock | None = None) -> Callable[[OperationConfig], OperationResult]:
    """A stand-in for the operation program: does what its config asks, in its store."""
    def run(config: OperationConfig) -> OperationResult:
        store = store_for(config)
        if store is None:
            return failed(config, E.INVALID_INPUT, "configure",
                          "the simulation has no storage for this repository")
        now = clock() if clock else datetime.datetime.now(datetime.UTC)
        try:
            return _result(config, **KINDS[config["operation"]](store, config, now))
        except _Refused as refused:
            return failed(config, refused.error, refused.step, refused.message)
    return run
