"""Run ``kubectl-cvmfs`` the way a release manager does: a child process with a kubeconfig and
their own S3 credentials in the environment. Async, because the emulator serves from the test's
event loop (a blocking ``subprocess.run`` would starve it)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

# The release manager's own staging credentials (moto accepts any); never the repository's keys.
STAGING_ACCESS_KEY = "AKIARELEASEMANAGER01"
STAGING_SECRET_KEY = "release-manager-secret"
CLI = [sys.executable, "-m", "cvmfs_operator.cli.kubectl_cvmfs.main"]


def write_kubeconfig(path: Path, server: str, namespace: str, context: str = "emulator") -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "release-manager", "user": {"token": "not-checked-by-the-emulator"}}],
        "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "release-manager",
                                                    "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def environment(kubeconfig: Path, operator_namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
    env.update({"KUBECONFIG": str(kubeconfig), "KUBECTL_CVMFS_OPERATOR_NAMESPACE": operator_namespace,
                "AWS_ACCESS_KEY_ID": STAGING_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": STAGING_SECRET_KEY,
                "NO_COLOR": "1"})
    return env


async def run(env: dict[str, str], *args: str, timeout: float = 90.0) -> Result:
    process = await asyncio.create_subprocess_exec(*CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(f"kubectl-cvmfs {' '.join(args)} did not finish in {timeout}s:\n"
                             f"{stdout.decode()}\n{stderr.decode()}") from None
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())
