"""Every file in examples/ is applied to the emulated cluster and does what its README says."""

from __future__ import annotations

from pathlib import Path

from tests.integration.operator.conftest import Kubelet
from tests.support.cluster import EXAMPLES, Cluster, OperatorProcess, load_example


async def test_every_example_applies_and_its_transactions_succeed(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet) -> None:
    files = sorted(Path(EXAMPLES).glob("*.yaml"))
    assert files, "examples/ holds no YAML"
    transactions: list[tuple[str, str]] = []
    documents = [doc for path in files for doc in load_example(path.name)]
    # Repositories first, as the README applies them; Transactions would wait for them anyway.
    for doc in sorted(documents, key=lambda d: d["kind"] != "Repository"):
        if doc["kind"] == "Repository":
            await cluster.create_repository(doc)
        elif doc["kind"] == "Transaction":
            await cluster.create_transaction(doc)
            transactions.append((doc["metadata"]["namespace"], doc["metadata"]["name"]))
        else:
            raise AssertionError(f"unexpected kind {doc['kind']} in examples/")
    assert len(transactions) >= 2

    for namespace, name in transactions:
        status = await cluster.wait_phase(namespace, name, "Succeeded", timeout=30)
        spec_tag = next(d for d in documents if d["metadata"]["name"] == name)["spec"]["tag"]["name"]
        assert status["tag"] == spec_tag
