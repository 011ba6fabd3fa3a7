"""A pod runs at least once, a publish happens exactly once: the repository's tags decide."""

from __future__ import annotations

import datetime

from cvmfs_operator.api import contract
from cvmfs_operator.stratum0 import simulated
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint


async def test_a_tag_already_in_the_repository_is_not_published_again(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory,
        s3: S3Endpoint, bucket: str) -> None:
    await cluster.create_repository(repository())
    where = simulated.Bucket(s3.url, bucket, FQRN, ACCESS_KEY, SECRET_KEY)
    earlier = simulated.publish(where, FQRN, "release-9", "published by hand",
                                datetime.datetime.now(datetime.UTC))
    await cluster.create_transaction(transaction("again", tag={"name": "release-9"}))

    status = await cluster.wait_phase("default", "again", "Succeeded")

    assert status["reason"] == "AlreadyPublished"
    assert status["revisionAfter"] == earlier.revision_after
    assert status["rootHash"] == earlier.root_hash
    assert kubelet.started("again") == []


async def test_a_recreated_transaction_does_not_publish_twice(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("gitops"))
    first = await cluster.wait_phase("default", "gitops", "Succeeded")
    assert first["reason"] == "Published"

    await cluster.delete_transaction("default", "gitops")
    await cluster.wait_gone("default", "gitops")
    await cluster.create_transaction(transaction("gitops"))  # what Argo CD does after a prune
    second = await cluster.wait_phase("default", "gitops", "Succeeded")

    assert second["reason"] == "AlreadyPublished"
    assert second["revisionAfter"] == first["revisionAfter"]
    assert len(kubelet.started("gitops")) == 1


async def test_a_pod_that_published_and_vanished_is_recovered_not_rerun(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["lost"] = Fate(vanish=True, publishes=True)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("lost", backoffLimit=2))

    status = await cluster.wait_phase("default", "lost", "Succeeded")

    assert status["reason"] == "Recovered"
    assert status["revisionAfter"] == 3
    assert status["lastFailure"]["reason"] == "PodLost"
    assert len(kubelet.started("lost")) == 1


async def test_a_pod_that_vanished_before_publishing_is_retried(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["evicted"] = [Fate(vanish=True, publishes=False), Fate()]
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("evicted", backoffLimit=1))

    status = await cluster.wait_phase("default", "evicted", "Succeeded")

    assert status["reason"] == "Published"
    assert status["attempts"] == 2
    assert status["lastFailure"]["reason"] == "PodLost"
    assert len(kubelet.started("evicted")) == 2


async def test_a_vanished_last_attempt_without_a_publish_fails(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["gone"] = Fate(vanish=True, publishes=False)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("gone", backoffLimit=0))

    status = await cluster.wait_phase("default", "gone", "Failed")

    assert status["reason"] == "PodLost"
    assert "gave up after 1 attempts" in status["message"]


async def test_a_reported_publish_the_repository_does_not_show_fails_verification(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    claim: contract.PublisherResult = {
        "contractVersion": contract.CONTRACT_VERSION, "outcome": "Succeeded", "errorClass": None,
        "step": None, "message": "published", "revisionBefore": 2, "revisionAfter": 99,
        "rootHash": "f" * 40, "tag": "default_liar", "reflogChecksum": None, "durations": {},
        "leaseToken": None, "logTail": ["claimed revision 99"]}
    kubelet.fates["liar"] = Fate(message=contract.encode_result(claim).decode())
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("liar"))

    status = await cluster.wait_phase("default", "liar", "Failed")

    assert status["reason"] == "VerificationFailed"
    assert "revision 99" in status["message"]
    assert "no such tag" in status["message"]
