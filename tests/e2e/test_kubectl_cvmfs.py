"""``kubectl-cvmfs publish DIR --wait`` against the session's API server, as a release manager runs
it: a child process with a kubeconfig (the session's own ``KUBECONFIG``, or one naming the
emulator) and their own staging credentials, never the repository's.

With the simulated kubelet the staging bucket is in the session's S3 store (moto on loopback, or
``--e2e-s3-endpoint`` with its credentials). With a real kubelet the Repository of
``--e2e-repository-file`` must declare ``spec.staging.s3``, and the staging credentials are the
caller's ``AWS_*`` environment; without a staging bucket the test skips.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Api
from tests.e2e.scenario import Scenario
from tests.support import kubectl_cvmfs as cli

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


def release_dir(root: Path) -> Path:
    (root / "release" / "bin").mkdir(parents=True)
    (root / "release" / "bin" / "tool").write_text("#!/bin/sh\necho 1.0\n")
    (root / "release" / "README").write_text("release 1.0\n")
    return root / "release"


async def staging(scenario: Scenario) -> tuple[dict[str, Any], dict[str, str]]:
    """The Repository's ``spec.staging`` and the release manager's S3 credentials (environment)."""
    store = scenario.s.s3
    if scenario.config.simulate_kubelet:
        if store is None:
            pytest.skip("the simulated kubelet publishes into S3, which the operator reads: a deployed "
                        "operator needs --e2e-s3-endpoint reachable from the cluster (docs/e2e.md)")
        bucket = f"{scenario.id}-staging"
        await asyncio.to_thread(store.create_bucket, bucket)
        spec = {"s3": {"endpoint": store.endpoint, "bucket": bucket, "prefix": "incoming"}}
        return spec, {"AWS_ACCESS_KEY_ID": store.access_key, "AWS_SECRET_ACCESS_KEY": store.secret_key}
    body = await scenario.repository_body()  # skips without --e2e-repository-file
    if "staging" not in body["spec"]:
        pytest.skip("kubectl-cvmfs publish stages to the Repository's spec.staging.s3: declare one in "
                    "--e2e-repository-file (and export AWS_* credentials that may write it)")
    return dict(body["spec"]["staging"]), {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def environment(credentials: dict[str, str], kubeconfig: Path | None, operator_namespace: str
                ) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(credentials)
    env.update({"KUBECTL_CVMFS_OPERATOR_NAMESPACE": operator_namespace, "NO_COLOR": "1"})
    if kubeconfig is not None:  # the emulator; else KUBECONFIG (or ~/.kube/config) as the session
        env["KUBECONFIG"] = str(kubeconfig)
    return env


async def test_publish_a_directory_and_wait(scenario: Scenario, e2e_api: tuple[Api, str | None],
                                            tmp_path: Path) -> None:
    spec, credentials = await staging(scenario)
    fqrn = await scenario.repository(staging=spec)
    _, emulator_url = e2e_api
    kubeconfig = (None if emulator_url is None
                  else cli.write_kubeconfig(tmp_path / "kubeconfig", emulator_url, scenario.namespace))
    env = environment(credentials, kubeconfig, scenario.s.operator_namespace)

    run = await cli.run(env, "publish", str(release_dir(tmp_path)), "-r", fqrn, "-p", "/e2e/cli",
                        "-t", f"cli-{scenario.id}", "-n", scenario.namespace, "--name", "cli-release",
                        "--wait", "--timeout", str(scenario.timeout), timeout=scenario.timeout + 60)

    assert run.code == 0, run.stdout + run.stderr
    assert f"Transaction {scenario.namespace}/cli-release: Succeeded (Published)" in run.stdout
    status = await scenario.wait_phase("cli-release", "Succeeded")
    assert status["reason"] == "Published"
    assert status["revisionAfter"] == status["revisionBefore"] + 1
    assert status["tag"] == f"cli-{scenario.id}"
    assert f"  revision    {status['revisionBefore']} -> {status['revisionAfter']}" in run.stdout
    txn = await scenario.cluster.transaction(scenario.namespace, "cli-release")
    assert txn is not None
    tarball = txn["spec"]["payload"]["tarball"]
    prefix = spec["s3"].get("prefix", f"staging/{fqrn}")
    assert tarball["url"] == f"s3://{spec['s3']['bucket']}/{prefix}/{tarball['sha256']}.tar"
    assert f"sha256 {tarball['sha256']}" in run.stdout
    if scenario.config.simulate_kubelet and scenario.s.s3 is not None:  # the staged bytes, read back
        staged = await asyncio.to_thread(scenario.s.s3.where(spec["s3"]["bucket"], prefix).get,
                                         f"{tarball['sha256']}.tar")
        assert staged is not None
        assert hashlib.sha256(staged).hexdigest() == tarball["sha256"]
    await scenario.wait_clean(fqrn, txn["metadata"]["uid"])
