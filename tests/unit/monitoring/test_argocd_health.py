"""Argo CD health checks (Lua) for Transaction and Repository, run by a real Lua 5.1 interpreter.

Laid out as Argo CD's own ``resource_customizations``: ``<group>/<Kind>/health.lua`` beside
``health_test.yaml`` and ``testdata/``. The statuses are also built here with the operator's own
status code, for every phase and every Repository verdict, so the scripts follow what it writes.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import lupa.lua51
import pytest
import yaml

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile.status import Desired, status_for
from cvmfs_operator.stratum0 import (
    AccessDenied,
    BucketMissing,
    CorruptObject,
    InvalidConfiguration,
    ObjectMissing,
    Observation,
    Stratum0Error,
    Unreachable,
    assess_health,
)
from tests.support.gitops import Health, argocd_health
from tests.support.monitoring import ARGOCD
from tests.unit.reconcile import builders
from tests.unit.stratum0.test_health import FQRN, NOW, manifest, whitelist

KINDS = ("Transaction", "Repository")


def _cases() -> list[tuple[str, str, dict[str, str]]]:
    cases = []
    for kind in KINDS:
        tests = yaml.safe_load((ARGOCD / kind / "health_test.yaml").read_text())["tests"]
        cases += [(kind, test["inputPath"], test["healthStatus"]) for test in tests]
    return cases


@pytest.mark.parametrize(("kind", "input_path", "expected"), _cases(),
                         ids=[f"{k}/{p}" for k, p, _ in _cases()])
def test_health_test_cases(kind: str, input_path: str, expected: dict[str, str]) -> None:
    obj = yaml.safe_load((ARGOCD / kind / input_path).read_text())
    assert obj["kind"] == kind
    assert argocd_health(ARGOCD / kind / "health.lua", obj) == Health(expected["status"], expected["message"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_is_a_test_case(kind: str) -> None:
    tests = yaml.safe_load((ARGOCD / kind / "health_test.yaml").read_text())["tests"]
    used = sorted(test["inputPath"] for test in tests)
    assert used == sorted(f"testdata/{p.name}" for p in (ARGOCD / kind / "testdata").glob("*.yaml"))


# --- what the operator writes, built by its own status code ---------------------------------------

TRANSACTION_HEALTH = {
    Phase.PENDING: "Suspended",
    Phase.QUEUED: "Progressing",
    Phase.RUNNING: "Progressing",
    Phase.SUCCEEDED: "Healthy",
    Phase.FAILED: "Degraded",
    Phase.CANCELLED: "Degraded",
}


def transaction_with(phase: Phase, reason: str, message: str) -> dict[str, Any]:
    txn = builders.transaction()
    status = status_for(builders.observed(txn), Desired(phase, reason, message))
    return {"apiVersion": "cvmfs.cern.ch/v1alpha1", "kind": "Transaction", **txn, "status": status}


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_the_operator_writes_has_its_health(phase: Phase) -> None:
    obj = transaction_with(phase, "SomeReason", "what happened")
    health = argocd_health(ARGOCD / "Transaction" / "health.lua", obj)
    assert health == Health(TRANSACTION_HEALTH[phase], f"{phase.value} (SomeReason): what happened")


def test_a_transaction_being_deleted_is_progressing_until_it_is_gone() -> None:
    obj = transaction_with(Phase.RUNNING, "Publishing", "publisher pod p (attempt 1)")
    obj["metadata"]["deletionTimestamp"] = "2024-05-01T12:31:00Z"
    health = argocd_health(ARGOCD / "Transaction" / "health.lua", obj)
    assert health.status == "Progressing"
    assert health.message.startswith("Being deleted")


def repository_with(result: Observation | Stratum0Error) -> dict[str, Any]:
    status = assess_health(result, now=NOW, fqrn=FQRN, observed_generation=1)
    return {"apiVersion": "cvmfs.cern.ch/v1alpha1", "kind": "Repository",
            "metadata": {"name": FQRN, "generation": 1}, "status": {**status, "observedGeneration": 1}}


DAYS = datetime.timedelta(days=1)


@pytest.mark.parametrize(("result", "status", "start"), [
    (Observation(manifest(), whitelist(20 * DAYS)), "Healthy", "Published: revision 1"),
    (Unreachable("connection refused"), "Degraded", "Unreachable: connection refused"),
    (AccessDenied("403"), "Degraded", "CredentialsRefused: 403"),
    (BucketMissing("no bucket"), "Degraded", "BucketMissing: no bucket"),
    (ObjectMissing("no .cvmfspublished"), "Degraded", "ManifestMissing: no .cvmfspublished"),
    (CorruptObject("bad signature", object_name=".cvmfspublished"), "Degraded",
     "ManifestCorrupt: .cvmfspublished: bad signature"),
    (InvalidConfiguration("no credentials"), "Degraded", "InvalidConfiguration: no credentials"),
    (Observation(manifest(), whitelist(-1 * DAYS)), "Degraded", "WhitelistExpired: the whitelist expired"),
    (Observation(manifest(fqrn="other.example.org"), whitelist(20 * DAYS)), "Degraded", "NameMismatch"),
], ids=["ready", "unreachable", "denied", "no-bucket", "no-manifest", "corrupt", "invalid", "expired",
        "wrong-name"])
def test_every_repository_verdict_has_its_health(result: Observation | Stratum0Error, status: str,
                                                 start: str) -> None:
    health = argocd_health(ARGOCD / "Repository" / "health.lua", repository_with(result))
    assert health.status == status
    assert health.message.startswith(start), health.message


def test_a_whitelist_expiring_soon_stays_healthy_with_a_warning() -> None:
    obj = repository_with(Observation(manifest(), whitelist(3 * DAYS)))
    health = argocd_health(ARGOCD / "Repository" / "health.lua", obj)
    assert health.status == "Healthy"
    assert "WARNING the whitelist expires at" in health.message


# --- the interpreter is as strict as Argo CD's ----------------------------------------------------


@pytest.mark.parametrize("script", [
    'return {status = string.upper("healthy")}',
    'local s = "Healthy"; return {status = s:sub(1)}',
    'return {status = "Healthy", message = tostring(math.pi)}',
    'return {status = "Healthy", message = io.read()}',
])
def test_libraries_argo_cd_does_not_open_are_absent(script: str) -> None:
    with pytest.raises(lupa.lua51.LuaError):
        argocd_health(script, {})


def test_an_invalid_status_code_reads_as_unknown() -> None:
    assert argocd_health('return {status = "Fine"}', {}).status == "Unknown"


@pytest.mark.parametrize("kind", KINDS)
def test_scripts_fit_in_argocd_cm(kind: str) -> None:
    """No ``require`` of other files: the whole script goes into one argocd-cm key."""
    script = (ARGOCD / kind / "health.lua").read_text()
    assert "require" not in script
    assert Path(ARGOCD / kind / "health.lua").parent.parent.name == "cvmfs.cern.ch"


def test_the_argocd_cm_in_the_docs_holds_these_scripts() -> None:
    """docs/operations.md shows the argocd-cm to apply; it must be the tested scripts, verbatim."""
    text = (ARGOCD.parents[4] / "docs" / "operations.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    [config_map] = [yaml.safe_load(b) for b in blocks if "name: argocd-cm" in b]
    assert config_map["kind"] == "ConfigMap"
    for kind in KINDS:
        key = f"resource.customizations.health.cvmfs.cern.ch_{kind}"
        assert config_map["data"][key] == (ARGOCD / kind / "health.lua").read_text()
