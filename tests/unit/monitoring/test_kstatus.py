"""Flux (kustomize-controller health checks) and other kstatus users judge our objects right.

``tests.support.gitops.kstatus`` ports kstatus' ``status.Compute`` for custom resources; the first
tests replay kstatus' own cases (cli-utils ``status_compute_test.go``, TestCRDGenericStatus) to
prove the port, the rest judge the statuses the operator's status code writes.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile.status import Desired, status_for
from cvmfs_operator.stratum0 import AccessDenied, Observation, Unreachable, assess_health
from tests.support.gitops import CURRENT, FAILED, IN_PROGRESS, TERMINATING, kstatus
from tests.unit.reconcile import builders
from tests.unit.stratum0.test_health import FQRN, NOW, manifest, whitelist

MY_CR: dict[str, Any] = {"apiVersion": "something/v1", "kind": "MyCR",
                         "metadata": {"name": "test", "namespace": "qual"}}


@pytest.mark.parametrize(("metadata", "status", "expected"), [
    ({"generation": 1}, None, CURRENT),  # crdNoStatus
    ({"generation": 2}, {"observedGeneration": 1}, IN_PROGRESS),  # crdMismatchStatusGeneration
    ({"generation": 1}, {"conditions": [{"type": "Ready", "status": "True", "reason": "AllOk"}]}, CURRENT),
    ({"generation": 1}, {"observedGeneration": 1,
                         "conditions": [{"type": "Ready", "status": "False", "reason": "NotReadyYet"}]},
     IN_PROGRESS),  # crdNotReady
    ({"generation": 1}, {"conditions": [{"type": "SomeCondition", "status": "False"}]}, CURRENT),
    ({"generation": 1}, {"conditions": [{"type": "Reconciling", "status": "True"}]}, IN_PROGRESS),
    ({"generation": 1}, {"conditions": [{"type": "Stalled", "status": "True"},
                                        {"type": "Ready", "status": "True"}]}, FAILED),
    ({"generation": 1, "deletionTimestamp": "2024-01-01T00:00:00Z"},
     {"conditions": [{"type": "Ready", "status": "True"}]}, TERMINATING),
], ids=["no-status", "generation-mismatch", "ready", "not-ready", "no-condition", "reconciling",
        "stalled-before-ready", "deleting"])
def test_the_port_agrees_with_kstatus_own_cases(metadata: dict[str, Any], status: dict[str, Any] | None,
                                                expected: str) -> None:
    obj: dict[str, Any] = {**MY_CR, "metadata": {**MY_CR["metadata"], **metadata}}
    if status is not None:
        obj["status"] = status
    assert kstatus(obj).status == expected


# --- Transactions: Flux waits while they publish, passes on success, fails fast on failure --------

EXPECTED = {
    Phase.PENDING: IN_PROGRESS,
    Phase.QUEUED: IN_PROGRESS,
    Phase.RUNNING: IN_PROGRESS,
    Phase.SUCCEEDED: CURRENT,
    Phase.FAILED: FAILED,  # Stalled=True: a health check fails at once instead of timing out
    Phase.CANCELLED: FAILED,
}


def transaction_in(phase: Phase, generation: int = 1) -> dict[str, Any]:
    txn = builders.transaction(generation=generation)
    status = status_for(builders.observed(txn), Desired(phase, "Why", "what happened"))
    txn["metadata"]["generation"] = generation
    return {"apiVersion": "cvmfs.cern.ch/v1alpha1", "kind": "Transaction", **txn, "status": status}


@pytest.mark.parametrize("phase", list(Phase))
def test_transaction_phases(phase: Phase) -> None:
    result = kstatus(transaction_in(phase))
    assert result.status == EXPECTED[phase]
    if result.status != CURRENT:
        assert result.message == "what happened"


def test_a_transaction_whose_new_generation_is_not_yet_observed_is_in_progress() -> None:
    obj = transaction_in(Phase.SUCCEEDED)
    obj["metadata"]["generation"] = 2
    assert kstatus(obj).status == IN_PROGRESS


def test_limit_a_transaction_without_status_is_current() -> None:
    """kstatus' rule for an object nobody has written status to yet: Current. Between `kubectl
    apply` and the operator's first status write (about a second), a health check would pass.
    Flux's default poll comes later than that, but it is a race, documented in docs/operations.md."""
    obj = transaction_in(Phase.PENDING)
    del obj["status"]
    assert kstatus(obj).status == CURRENT


# --- Repositories: Ready decides, an unhealthy one keeps a Kustomization waiting ------------------


def repository_after(result: Observation | Unreachable | AccessDenied) -> dict[str, Any]:
    status = assess_health(result, now=NOW, fqrn=FQRN, observed_generation=1)
    return {"apiVersion": "cvmfs.cern.ch/v1alpha1", "kind": "Repository",
            "metadata": {"name": FQRN, "generation": 1}, "status": {**status, "observedGeneration": 1}}


def test_a_ready_repository_is_current() -> None:
    days = datetime.timedelta(days=20)
    assert kstatus(repository_after(Observation(manifest(), whitelist(days)))).status == CURRENT


def test_an_unreachable_repository_is_in_progress_with_the_reason() -> None:
    """It may come back by itself: Flux waits (its timeout fails the Kustomization)."""
    result = kstatus(repository_after(Unreachable("connection refused")))
    assert result.status == IN_PROGRESS
    assert result.message == "connection refused"


def test_a_repository_whose_new_generation_is_not_yet_observed_is_in_progress() -> None:
    obj = repository_after(Observation(manifest(), whitelist(datetime.timedelta(days=20))))
    obj["metadata"]["generation"] = 2
    assert kstatus(obj).status == IN_PROGRESS
    assert kstatus(obj).message == "Repository generation is 2, but latest observed generation is 1"


def test_a_repository_only_a_person_can_fix_is_failed_at_once() -> None:
    result = kstatus(repository_after(AccessDenied("S3 refused access")))
    assert result.status == FAILED
    assert result.message == "S3 refused access"
