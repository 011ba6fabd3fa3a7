"""``kubectl-cvmfs`` as a release manager runs it (a child process with a kubeconfig), against the
real operator on kmock's emulator, a simulated kubelet whose pods write a log, and moto's S3
(a staging bucket written with the release manager's own credentials)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.clients.simkubelet import Fate, SimulatedKubelet
from cvmfs_operator.stratum0 import simulated
from tests.integration.operator.conftest import FQRN, OPERATOR_NAMESPACE, RepoFactory
from tests.support import kubectl_cvmfs as cli
from tests.support.cluster import Cluster, OperatorProcess
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

NAMESPACE = "team"
FATES: dict[str, Fate] = {}


@pytest.fixture
async def kubelet(kube: KubeClient, api: ApiEmulator) -> AsyncIterator[SimulatedKubelet]:
    """Publisher pods run 1.5 s and write a pod log the emulator serves (pods/log)."""
    def fate(pod: dict[str, Any]) -> Fate:
        name = pod["metadata"]["labels"].get("cvmfs.cern.ch/transaction-name", "")
        return FATES.get(name, Fate(seconds=1.5))
    sim = SimulatedKubelet(kube, OPERATOR_NAMESPACE, fate, pod_log=api.write_pod_log,
                           publish=simulated.publisher(simulated.s3_stores(ACCESS_KEY, SECRET_KEY)))
    sim.start()
    yield sim
    await asyncio.to_thread(sim.stop)


@pytest.fixture
async def staged_repository(cluster: Cluster, repository: RepoFactory, s3: S3Endpoint) -> str:
    staging = f"staging-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=staging)
    await cluster.create_repository(repository(allowedNamespaces=["*"], staging={"s3": {
        "endpoint": s3.url, "bucket": staging, "prefix": "incoming/software"}}))
    return staging


@pytest.fixture
def env(api: ApiEmulator, tmp_path: Path) -> dict[str, str]:
    kubeconfig = cli.write_kubeconfig(tmp_path / "kubeconfig", str(api.url), NAMESPACE)
    return cli.environment(kubeconfig, OPERATOR_NAMESPACE)


def release_dir(root: Path) -> Path:
    (root / "release" / "bin").mkdir(parents=True)
    (root / "release" / "bin" / "tool").write_text("#!/bin/sh\necho 1.0\n")
    (root / "release" / "README").write_text("release 1.0\n")
    (root / "release" / "build.o").write_text("left out")
    return root / "release"


async def test_publish_waits_live_and_the_other_commands_show_the_result(
        operator: OperatorProcess, kubelet: SimulatedKubelet, staged_repository: str, env: dict[str, str],
        s3: S3Endpoint, cluster: Cluster, tmp_path: Path) -> None:
    source = release_dir(tmp_path)
    run = await cli.run(env, "publish", str(source), "--repository", FQRN, "--path", "/releases/1.0",
                        "--tag", "v1.0", "--description", "release 1.0", "--exclude", "*.o", "--wait",
                        "--timeout", "60")
    assert run.code == 0, run.stdout + run.stderr
    name = next(w for w in run.stdout.split() if w.startswith(f"{NAMESPACE}/publish-")).split("/")[1]
    out = run.stdout
    assert "Packing" in out
    assert "3 entries" in out  # bin, bin/tool, README: build.o excluded
    assert "Running" in out
    assert f"publisher pod cvmfs-pub-a1-{NAMESPACE}-" in out
    assert "| " in out  # the pod log, streamed
    assert "[simulated] publisher for" in out
    assert "Succeeded" in out
    assert "Published" in out
    assert "revision    2 -> 3" in out
    assert "tag         v1.0" in out
    assert "duration" in out

    # The staged object: content-addressed, and the checksum the Transaction hands the publisher.
    txn = await cluster.transaction(NAMESPACE, name)
    assert txn is not None
    tarball = txn["spec"]["payload"]["tarball"]
    key = tarball["url"].removeprefix(f"s3://{staged_repository}/")
    body = s3.client().get_object(Bucket=staged_repository, Key=key)["Body"].read()
    assert key == f"incoming/software/{tarball['sha256']}.tar"
    assert hashlib.sha256(body).hexdigest() == tarball["sha256"]

    listed = await cli.run(env, "list")
    assert listed.code == 0
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "REPOSITORY", "PHASE", "REVISION", "DURATION", "AGE"]
    assert row.split()[:4] == [name, FQRN, "Succeeded", "3"]
    as_json = json.loads((await cli.run(env, "list", "-A", "-o", "json")).stdout)
    assert [item["metadata"]["name"] for item in as_json["items"]] == [name]
    status = await cli.run(env, "status", name)
    assert "Succeeded (Published)" in status.stdout
    history = await cli.run(env, "history", FQRN)
    assert history.code == 0, history.stderr
    assert any(line.split()[:2] == ["v1.0", "3*"] for line in history.stdout.splitlines()), history.stdout

    # The same content again: nothing uploaded, a new Transaction (the tag exists: nothing published).
    again = await cli.run(env, "publish", str(source), "-r", FQRN, "-p", "/releases/1.0", "-t", "v1.0",
                          "--exclude", "*.o", "--name", "again", "--wait", "--no-logs")
    assert "already staged (same SHA-256): nothing uploaded" in again.stdout
    assert again.code == 0
    assert "AlreadyPublished" in again.stdout


async def test_a_failed_publish_exits_1_and_its_log_stays_readable(
        operator: OperatorProcess, kubelet: SimulatedKubelet, staged_repository: str, env: dict[str, str],
        tmp_path: Path) -> None:
    tarball = tmp_path / "r.tar"
    tarball.write_bytes(b"not really a tarball, the simulated pod fails anyway")
    FATES["broken"] = Fate.fail(contract.ErrorClass.PAYLOAD_FAILED, "unpacking refused: not a tar archive",
                                log=["OUT tar: this does not look like a tar archive"])
    run = await cli.run(env, "publish", str(tarball), "-r", FQRN, "-p", "/x", "--name", "broken", "--wait")
    assert run.code == 1, run.stdout + run.stderr
    assert "Failed" in run.stdout
    assert "unpacking refused" in run.stdout
    logs = await cli.run(env, "logs", "broken")
    assert logs.code == 0
    assert "this does not look like a tar archive" in logs.stdout


async def test_errors_say_what_to_do(api: ApiEmulator, cluster: Cluster, repository: RepoFactory,
                                     env: dict[str, str], tmp_path: Path) -> None:
    await cluster.create_repository(repository(allowedNamespaces=["*"]))  # no staging bucket
    source = release_dir(tmp_path)
    run = await cli.run(env, "publish", str(source), "-r", FQRN, "-p", "/r")
    assert run.code == 2
    assert "declares no staging bucket (spec.staging.s3)" in run.stderr
    run = await cli.run(env, "publish", str(source), "-r", FQRN, "-p", "/r", "-d", "$(reboot)")
    assert run.code == 2
    assert "--description" in run.stderr
    run = await cli.run(env, "status", "nope")
    assert run.code == 6
    assert 'Transaction "nope" not found in namespace team' in run.stderr
    run = await cli.run(env, "list", "--context", "no-such-context")
    assert run.code == 5
    assert "kubectl config get-contexts" in run.stderr
    run = await cli.run(env, "rollback", FQRN)
    assert run.code == 2
    assert "not available yet" in run.stderr
