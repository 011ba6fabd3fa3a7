"""A Transaction's life on a real cluster: publish, failure, deadline, missing Repository, refusal."""

from __future__ import annotations

import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.clients.simkubelet import Fate
from cvmfs_operator.render import names
from tests.e2e.harness import parse_stamp
from tests.e2e.scenario import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_happy_path_publishes_records_and_removes_the_pod(scenario: Scenario) -> None:
    fqrn = await scenario.repository()
    created = await scenario.run("release-1", fqrn)

    status = await scenario.wait_phase("release-1", "Succeeded")

    assert status["reason"] == "Published"
    assert status["revisionAfter"] == status["revisionBefore"] + 1
    assert status["tag"] == names.default_tag(scenario.namespace, "release-1")
    assert status["attempts"] == 1
    assert status["logTail"]
    assert parse_stamp(status["startTime"]) <= parse_stamp(status["completionTime"])
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert [conditions[c] for c in ("Ready", "Reconciling", "Stalled")] == ["True", "False", "False"]
    assert status["observedGeneration"] == created["metadata"]["generation"]
    await scenario.wait_clean(fqrn, created["metadata"]["uid"])
    repo = await scenario.cluster.repository(fqrn)
    assert repo is not None
    assert repo["status"]["revision"] == status["revisionAfter"]
    assert repo["status"]["rootHash"] == status["rootHash"]
    assert repo["status"].get("activeTransaction") is None
    if scenario.kubelet is not None:
        assert "published" in status["logTail"][-1]
        assert len(scenario.kubelet.started(scenario.namespace, "release-1")) == 1


async def test_publisher_failure_is_reported_with_reason_and_log_tail(scenario: Scenario) -> None:
    log = [f"line {i}" for i in range(100)]
    fqrn = await scenario.repository()
    await scenario.run("broken", fqrn, backoffLimit=0,
                       fate=Fate.fail(contract.ErrorClass.PUBLISH_FAILED, "Signing failed", log=log))

    status = await scenario.wait_phase("broken", "Failed")

    assert status["reason"] == "PublishFailed"
    assert "Signing failed" in status["message"]
    assert status["logTail"] == log[-40:]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "False", "Reconciling": "False", "Stalled": "True", "Published": "False"}
    await scenario.wait_clean(fqrn)


async def test_deadline_exceeded_fails_the_transaction(scenario: Scenario) -> None:
    """spec.timeoutSeconds becomes activeDeadlineSeconds; the kubelet (real or simulated) stops the pod."""
    fqrn = await scenario.repository()
    timeout = 2 if scenario.kubelet is not None else 10
    created = await scenario.run("too-slow", fqrn, hang=True, timeoutSeconds=timeout, backoffLimit=0)

    status = await scenario.wait_phase("too-slow", "Failed")

    assert status["reason"] == "DeadlineExceeded"
    assert status["attempts"] == 1
    assert parse_stamp(status["completionTime"]) >= parse_stamp(status["startTime"])
    await scenario.wait_clean(fqrn, created["metadata"]["uid"])


async def test_missing_repository_waits_then_publishes_once_created(scenario: Scenario) -> None:
    body = await scenario.repository_body()
    fqrn = body["metadata"]["name"]
    created = await scenario.run("early", fqrn)

    pending = await scenario.wait_phase("early", "Pending")
    assert pending["reason"] == "RepositoryNotFound"
    assert fqrn in pending["message"]
    assert not await scenario.pods(created["metadata"]["uid"])
    assert await scenario.cluster.lock_holder(fqrn) is None

    await scenario.create_repository(body)
    status = await scenario.wait_phase("early", "Succeeded")
    assert status["attempts"] == 1
    await scenario.wait_clean(fqrn, created["metadata"]["uid"])


async def test_namespace_not_allowed_fails_without_a_pod(scenario: Scenario) -> None:
    fqrn = await scenario.repository(allowedNamespaces=[f"{scenario.namespace}-other"])
    created = await scenario.run("outsider", fqrn)

    status = await scenario.wait_phase("outsider", "Failed")

    assert status["reason"] == "NamespaceNotAllowed"
    assert scenario.namespace in status["message"]
    assert not status.get("attempts")
    assert not await scenario.pods(created["metadata"]["uid"])
    assert await scenario.cluster.lock_holder(fqrn) is None
    if scenario.kubelet is not None:
        assert scenario.kubelet.started(scenario.namespace, "outsider") == []
