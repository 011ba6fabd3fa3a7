"""A repository changed behind the operator's back: nothing starts until an administrator says so.

The bucket is changed the way another publisher would change it (a new revision, a new
``.cvmfsreflog``) through the S3 endpoint; the simulated pods refuse to sign on a stale checksum as
``cvmfs_server`` does (``simulated.signing_refusal``).
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from cvmfs_operator.reconcile.reflog import ACKNOWLEDGE_ANNOTATION
from cvmfs_operator.stratum0 import simulated
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint


def _bucket(s3: S3Endpoint, bucket: str) -> simulated.Bucket:
    return simulated.Bucket(s3.url, bucket, FQRN, ACCESS_KEY, SECRET_KEY)


def _publish_elsewhere(where: simulated.Bucket, tag: str) -> tuple[int, str]:
    """Another tool publishes: the next revision and a new reflog; returns (revision, reflog sha1)."""
    now = datetime.datetime.now(datetime.UTC)
    done = simulated.publish(where, FQRN, tag, "published with another tool", now)
    reflog = where.get(".cvmfsreflog")
    assert reflog is not None
    return done.revision_after, hashlib.sha1(reflog).hexdigest()


async def _repository_condition(cluster: Cluster, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        repo = await cluster.repository(FQRN) or {}
        for condition in (repo.get("status") or {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["reason"] == reason:
                return repo
        return None
    return await eventually(check, timeout=30.0, what=f"Repository Ready reason {reason}")


async def _reason(cluster: Cluster, name: str, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await cluster.status("default", name)
        return status if status.get("reason") == reason else None
    return await eventually(check, timeout=60.0, what=f"{name} reason {reason}")


async def test_a_change_between_two_transactions_stops_the_queue_until_acknowledged(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("first"))
    first = await cluster.wait_phase("default", "first", "Succeeded")
    revision, found = _publish_elsewhere(_bucket(s3, bucket), "by-hand")

    await cluster.create_transaction(transaction("second", payload={"remove": {"paths": ["a"]}}))
    await cluster.create_transaction(transaction("third", payload={"remove": {"paths": ["b"]}}))

    waiting = await _reason(cluster, "second", "ReflogMismatch")
    assert waiting["phase"] == "Queued"
    assert f"revision {revision}" in waiting["message"]
    assert f"last published revision {first['revisionAfter']}" in waiting["message"]
    assert f"{ACKNOWLEDGE_ANNOTATION}={found}" in waiting["message"]
    repo = await _repository_condition(cluster, "ReflogMismatch")
    assert repo["status"]["reflogMismatch"]["found"] == found
    assert repo["status"]["reflogMismatch"]["expected"] == first["reflogChecksum"]
    assert any("changed outside this operator" in e for e in await cluster.events_for("default", "second"))
    assert any("acknowledged" in e for e in await cluster.events_for("default", FQRN))
    third = await cluster.status("default", "third")
    assert third["phase"] == "Queued"
    assert third["reason"] == "Queued"
    assert kubelet.started("second") == []
    assert kubelet.started("third") == []

    await cluster.annotate_repository(FQRN, {ACKNOWLEDGE_ANNOTATION: found})

    second = await cluster.wait_phase("default", "second", "Succeeded")
    assert second["revisionAfter"] == revision + 1
    third = await cluster.wait_phase("default", "third", "Succeeded")
    assert third["revisionAfter"] == revision + 2
    repo = await _repository_condition(cluster, "Published")
    assert not repo["status"].get("reflogMismatch")
    assert repo["status"]["reflogChecksum"] == third["reflogChecksum"]


async def test_a_stale_checksum_before_the_first_attempt_starts_no_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await cluster.create_repository(repository())
    # What a Repository keeps from an earlier incarnation of the bucket (a restored backup).
    stale = {"reflogChecksum": "0" * 40, "reflogRevision": 7}
    await cluster._run(cluster.kube.patch_repository_status, FQRN, stale)
    await cluster.create_transaction(transaction("early"))

    waiting = await _reason(cluster, "early", "ReflogMismatch")
    assert "last published revision 7" in waiting["message"]
    await _repository_condition(cluster, "ReflogMismatch")
    assert kubelet.started("early") == []
    assert (await cluster.status("default", "early"))["phase"] == "Queued"

    reflog = _bucket(s3, bucket).get(".cvmfsreflog")
    assert reflog is not None
    await cluster.annotate_repository(FQRN, {ACKNOWLEDGE_ANNOTATION: hashlib.sha1(reflog).hexdigest()})
    assert (await cluster.wait_phase("default", "early", "Succeeded"))["reason"] == "Published"


async def test_a_signing_refusal_in_the_pod_is_not_retried(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    kubelet.fates["raced"] = Fate(seconds=6.0)  # long enough to change the bucket meanwhile, under load
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("raced", backoffLimit=3))
    await eventually(lambda: _running(cluster), timeout=30.0, what="the publisher pod running")
    # After the operator's check, before the pod signs.
    _, found = _publish_elsewhere(_bucket(s3, bucket), "during-the-publish")

    status = await _reason(cluster, "raced", "ReflogMismatch")
    assert status["phase"] == "Running"
    assert status["lastFailure"]["reason"] == "ReflogMismatch"
    assert "Signing failed" in status["lastFailure"]["message"]
    await _repository_condition(cluster, "ReflogMismatch")
    assert len(kubelet.started("raced")) == 1  # not retried while unacknowledged

    await cluster.annotate_repository(FQRN, {ACKNOWLEDGE_ANNOTATION: found})
    done = await cluster.wait_phase("default", "raced", "Succeeded")
    assert done["attempts"] == 2
    assert len(kubelet.started("raced")) == 2


async def _running(cluster: Cluster) -> bool:
    pods = await cluster.publisher_pods()
    return any(p.get("status", {}).get("phase") == "Running" for p in pods)


async def test_a_repository_recreated_over_the_same_bucket_starts_from_the_buckets_reflog(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("before"))
    await cluster.wait_phase("default", "before", "Succeeded")
    await cluster.delete_repository(FQRN)
    # kopf holds a finalizer while the health timer runs; under load its removal can be throttled.
    await eventually(lambda: _gone(cluster), timeout=90.0, what="the Repository deleted")
    revision, _ = _publish_elsewhere(_bucket(s3, bucket), "while-detached")

    await cluster.create_repository(repository(seed=False))
    await cluster.create_transaction(transaction("after"))

    after = await cluster.wait_phase("default", "after", "Succeeded")
    assert after["reason"] == "Published"
    assert after["revisionAfter"] == revision + 1
    assert len(kubelet.started("after")) == 1


async def _gone(cluster: Cluster) -> bool:
    return await cluster.repository(FQRN) is None
