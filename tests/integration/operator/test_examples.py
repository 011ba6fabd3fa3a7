"""Every file in examples/ is applied to the emulated cluster and does what its README says."""

from __future__ import annotations

import functools
from pathlib import Path

from cvmfs_operator.api import contract
from tests.integration.operator.conftest import OPERATOR_NAMESPACE, Kubelet, RepoFactory
from tests.support import operations as ops
from tests.support.cluster import EXAMPLES, Cluster, OperatorProcess, eventually, load_example
from tests.support.s3 import ACCESS_KEY, SECRET_KEY


async def test_every_example_applies_and_its_transactions_and_operations_succeed(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    files = sorted(Path(EXAMPLES).glob("*.yaml"))  # noqa: ASYNC240 - a directory listing, at setup
    assert files, "examples/ holds no YAML"
    transactions: list[tuple[str, str]] = []
    documents = [doc for path in files for doc in load_example(path.name)]
    # Repositories first, as the README applies them; Transactions would wait for them anyway.
    for doc in sorted(documents, key=lambda d: d["kind"] != "Repository"):
        if doc["kind"] == "Repository":
            # Same Repository, but its storage is the test's S3 endpoint instead of s3.example.org.
            secret = doc["spec"]["stratum0"]["s3"]["credentialsSecretRef"]["name"]
            # A Repository with spec.create gets an empty bucket prefix: the operator makes it.
            seeded = repository(doc["metadata"]["name"], seed="create" not in doc["spec"])
            doc["spec"]["stratum0"] = seeded["spec"]["stratum0"]
            doc["spec"]["stratum0"]["s3"]["credentialsSecretRef"]["name"] = secret
            await cluster.create_secret(OPERATOR_NAMESPACE, secret, {
                contract.S3_ACCESS_KEY_FILE: ACCESS_KEY, contract.S3_SECRET_KEY_FILE: SECRET_KEY})
            await cluster.create_repository(doc)
        elif doc["kind"] == "Transaction":
            await cluster.create_transaction(doc)
            transactions.append((doc["metadata"]["namespace"], doc["metadata"]["name"]))
        elif doc["kind"] != "RepositoryOperation":
            raise AssertionError(f"unexpected kind {doc['kind']} in examples/")
    assert len(transactions) >= 2

    for namespace, name in transactions:
        status = await cluster.wait_phase(namespace, name, "Succeeded")
        spec_tag = next(d for d in documents if d["metadata"]["name"] == name)["spec"]["tag"]["name"]
        assert status["tag"] == spec_tag

    for doc in documents:  # created by the operator (keys, mkfs), then Ready through its health read
        if doc["kind"] == "Repository" and "create" in doc["spec"]:
            await eventually(functools.partial(_created, cluster, doc["metadata"]["name"]), timeout=60,
                             what=f"Repository {doc['metadata']['name']} created and Ready")

    # The operations act on what the Transactions published (a rollback to and a check of
    # release-1.2.0): applied once those are final, as the README does.
    operations = [doc for doc in documents if doc["kind"] == "RepositoryOperation"]
    assert {next(iter(doc["spec"].keys() - {"repository"})) for doc in operations} == {
        "rollback", "tag", "resign", "gc", "check"}
    for doc in operations:
        await ops.create(cluster, doc)
    for doc in operations:
        meta = doc["metadata"]
        status = await ops.wait_phase(cluster, meta["namespace"], meta["name"], "Succeeded")
        assert status["operation"] in doc["spec"]


async def _created(cluster: Cluster, fqrn: str) -> bool:
    status = ((await cluster.repository(fqrn)) or {}).get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return conditions.get("Created") == "True" and conditions.get("Ready") == "True"
