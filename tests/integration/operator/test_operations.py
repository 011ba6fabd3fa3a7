"""RepositoryOperations end to end: each kind runs in its pod under the repository's lock and is
recorded on the operation and on the Repository; what the repository holds afterwards is read
back from the bucket itself."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.stratum0 import simulated
from cvmfs_operator.stratum0.manifest import parse_manifest
from cvmfs_operator.stratum0.reader import data_object_name
from cvmfs_operator.stratum0.tags import list_tags
from cvmfs_operator.stratum0.whitelist import parse_whitelist
from tests.integration.operator.conftest import FQRN, Kubelet, RepoFactory, transaction
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess, eventually
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

MAINTAINED = {"masterKeySecretRef": {"name": "software-example-org-masterkey"},
              "settings": {"garbageCollection": True, "autoTag": False}}


def _bucket(s3: S3Endpoint, bucket: str) -> simulated.Bucket:
    return simulated.Bucket(s3.url, bucket, FQRN, ACCESS_KEY, SECRET_KEY)


def _tags(store: simulated.Bucket) -> dict[str, int]:
    manifest = parse_manifest(store.get(".cvmfspublished") or b"")
    database = store.get(data_object_name(manifest.tag_db_hash or "", "H")) or b""
    return {tag.name: tag.revision for tag in list_tags(database)}


async def _published(cluster: Cluster, repository: RepoFactory) -> None:
    """The Repository with two publishes: tag v1 at revision 3, v2 at revision 4."""
    await cluster.create_repository(repository(**MAINTAINED))
    for name, tag in (("one", "v1"), ("two", "v2")):
        await cluster.create_transaction(transaction(name, tag={"name": tag}))
        await cluster.wait_phase("default", name, "Succeeded")


async def _repository_status(cluster: Cluster, key: str) -> dict[str, Any]:
    async def recorded() -> dict[str, Any] | None:
        status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
        return status if status.get(key) else None
    return await eventually(recorded, timeout=30, what=f"Repository status.{key}")


async def test_tag_and_rollback_change_the_repository_and_are_recorded(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await _published(cluster, repository)
    store = _bucket(s3, bucket)

    await ops.create(cluster, ops.operation("tag-stable", FQRN, tag={"action": "add", "name": "stable"}))
    tagged = await ops.wait_phase(cluster, "default", "tag-stable", "Succeeded")
    assert tagged["operation"] == "tag"
    assert tagged["reason"] == "Tagged"
    assert tagged["revisionAfter"] == 4
    assert _tags(store)["stable"] == 4
    assert {c["type"]: c["status"] for c in tagged["conditions"]} == {
        "Ready": "True", "Reconciling": "False", "Stalled": "False"}

    await ops.create(cluster, ops.operation("back-to-v1", FQRN, rollback={"tag": "v1"}))
    rolled = await ops.wait_phase(cluster, "default", "back-to-v1", "Succeeded")
    assert (rolled["reason"], rolled["revisionBefore"], rolled["revisionAfter"]) == ("RolledBack", 4, 5)
    assert rolled["podName"].startswith("cvmfs-op-a1-")
    assert rolled["attempts"] == 1
    assert set(rolled["timeline"]) >= {"queued", "podStartup", "publisher", "recording"}
    assert rolled["logTail"]
    tags = _tags(store)
    assert tags["v1"] == 5
    assert "v2" not in tags  # cvmfs removes the tags after the target
    repo = await _repository_status(cluster, "reflogChecksum")
    assert repo["revision"] == 5
    assert repo["rootHash"] == rolled["rootHash"]
    assert repo["reflogChecksum"] == rolled["reflogChecksum"]

    # The next publish starts from the operation's reflog checksum: no ReflogMismatch.
    await cluster.create_transaction(transaction("three", tag={"name": "v3"}))
    after = await cluster.wait_phase("default", "three", "Succeeded")
    assert after["revisionAfter"] == 6
    events = await cluster.events_for("default", "back-to-v1")
    assert len(events) == 2, events  # pod created, result


async def test_resign_gc_and_check_are_recorded_on_the_repository(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await _published(cluster, repository)
    store = _bucket(s3, bucket)

    await ops.create(cluster, ops.operation("resign", FQRN, resign={"whitelistDays": 20}))
    resigned = await ops.wait_phase(cluster, "default", "resign", "Succeeded")
    assert resigned["reason"] == "Resigned"
    whitelist = parse_whitelist(store.get(".cvmfswhitelist") or b"")
    assert resigned["whitelistExpiresAt"] == whitelist.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (whitelist.expires_at - whitelist.created_at).days == 20

    await ops.create(cluster, ops.operation("gc", FQRN, gc={"keepRevisions": 1, "dryRun": True}))
    collected = await ops.wait_phase(cluster, "default", "gc", "Succeeded")
    assert collected["gc"] == {"dryRun": True, "condemnedObjects": 0}

    await ops.create(cluster, ops.operation("check", FQRN, check={"tag": "v1"}))
    checked = await ops.wait_phase(cluster, "default", "check", "Succeeded")
    assert checked["check"] == {"passed": True, "revision": 4, "problems": []}

    repo = await _repository_status(cluster, "lastCheck")
    assert repo["lastResign"]["operation"] == "default/resign"
    assert repo["lastGC"] == {**repo["lastGC"], "result": "Succeeded", "operation": "default/gc"}
    assert repo["lastCheck"]["result"] == "Succeeded"
    await eventually(lambda: _idle(cluster), timeout=30, what="operation pods removed, the lock released")


async def _idle(cluster: Cluster) -> bool:
    return not await ops.pods(cluster) and await cluster.lock_holder(FQRN) is None


async def test_a_reported_head_the_bucket_does_not_show_is_not_recorded(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    """The pod says it rolled back to a new revision 9; the bucket still holds revision 4."""
    await _published(cluster, repository)
    kubelet.fates["lying"] = ops.claiming("rollback", "rolled back to v1 as revision 9",
                                          revisionBefore=4, revisionAfter=9, rootHash="9" * 40,
                                          reflogChecksum="e" * 40)
    await ops.create(cluster, ops.operation("lying", FQRN, rollback={"tag": "v1"}))
    failed = await ops.wait_phase(cluster, "default", "lying", "Failed")
    assert failed["reason"] == "VerificationFailed"
    assert "reported revision 9" in failed["message"]
    assert "manifest shows revision 4" in failed["message"]
    repo = ((await cluster.repository(FQRN)) or {}).get("status") or {}
    assert repo["revision"] == 4
    assert repo["reflogChecksum"] != "e" * 40
    assert parse_manifest(_bucket(s3, bucket).get(".cvmfspublished") or b"").revision == 4

    # Nothing was recorded from it: the next publish is not stopped by a reflog "mismatch".
    await cluster.create_transaction(transaction("three", tag={"name": "v3"}))
    after = await cluster.wait_phase("default", "three", "Succeeded")
    assert after["revisionAfter"] == 5
