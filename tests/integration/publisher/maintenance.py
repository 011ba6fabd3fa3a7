"""Helpers for the repository-maintenance tests: a pod attached to a repository with history, the
``cvmfs_server`` double run as a process, and the bucket's objects."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import (
    OPERATION_CONFIG_ENV,
    OPERATION_CONTRACT_VERSION,
    decode_operation_result,
)
from cvmfs_operator.stratum0.whitelist import Whitelist, parse_whitelist
from tests.integration.publisher.harness import BIN, FQRN, Stratum0

MASTER_KEY = "-----BEGIN PRIVATE KEY-----\nMIImasterkeymaterial0123456789\n-----END PRIVATE KEY-----\n"


def cvmfs_server(repo: Stratum0, *argv: str, stdin: str = "", shell: str = "dash",
                 **env: str) -> subprocess.CompletedProcess[str]:
    environment = repo.env("{}", CVMFS_DOUBLE_SHELL=shutil.which(shell) or shell, **env)
    return subprocess.run([str(BIN / "cvmfs_server"), *argv], env=environment, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def attach(repo: Stratum0, gc: bool = False, auto_tag: bool = True) -> None:
    """The publisher writes the attachment files and mounts; stopped before its own transaction."""
    config = repo.config({"remove": {"paths": ["x"]}}, reflogChecksum=checksum_of(repo))
    config["settings"].update(garbageCollection=gc, autoTag=auto_tag)
    result = repo.run(config, CVMFS_DOUBLE_FAIL="transaction")
    assert result.result["step"] == "transaction", result.result


def checksum_of(repo: Stratum0) -> str:
    return repo.manifest()["Y"]


def publish(repo: Stratum0, files: dict[str, bytes], tag: str) -> None:
    """One more revision through the double: transaction, files, ``publish -f -a TAG``."""
    opened = cvmfs_server(repo, "transaction", FQRN)
    assert opened.returncode == 0, opened.stderr
    for path, content in files.items():
        target = repo.union / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    done = cvmfs_server(repo, "publish", "-f", "-a", tag, "-m", f"release {tag}", FQRN)
    assert done.returncode == 0, done.stdout + done.stderr


def history(repo: Stratum0, gc: bool = False) -> None:
    """Revision 3 (seeded: sw/a), 4 (tag r4: sw/b), 5 (tag r5: sw/c, sw/b changed); attached."""
    repo.seed({"sw/a": b"a"})
    attach(repo, gc=gc)
    publish(repo, {"sw/b": b"b1"}, "r4")
    publish(repo, {"sw/c": b"c", "sw/b": b"b2"}, "r5")
    assert repo.manifest()["S"] == "5"


def objects(repo: Stratum0) -> set[str]:
    """Keys below ``<prefix>/data/`` (``xx/rest<suffix>``)."""
    listing = repo.s3.client().list_objects_v2(Bucket=repo.bucket, Prefix=f"{repo.prefix}/data/")
    return {item["Key"].removeprefix(f"{repo.prefix}/data/") for item in listing.get("Contents", [])}


def object_key(digest: str, suffix: str = "") -> str:
    return f"{digest[:2]}/{digest[2:]}{suffix}"


def whitelist(repo: Stratum0) -> Whitelist:
    return parse_whitelist(repo.get(".cvmfswhitelist"))


def days_left(listed: Whitelist) -> float:
    return (listed.expires_at - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400


def install_master_key(repo: Stratum0, into: str = "/etc/cvmfs/keys") -> Path:
    path = repo.host(into) / f"{FQRN}.masterkey"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MASTER_KEY)
    path.chmod(0o400)
    return path


def mount_master_key(repo: Stratum0) -> Path:
    return install_master_key(repo, "/run/cvmfs/masterkey")


def chksum(repo: Stratum0) -> str:
    return (repo.spool / "reflog.chksum").read_text().strip()


def no_transaction(repo: Stratum0) -> bool:
    return not (repo.spool / "in_transaction.lock").exists()


def spool_dir(repo: Stratum0) -> Path:
    return repo.host(contract.SPOOL_DIR)


def catalog_entries(repo: Stratum0, digest: str) -> dict[str, Any]:
    import json
    import zlib

    data: dict[str, Any] = json.loads(zlib.decompress(repo.get(f"data/{object_key(digest, 'C')}")))
    return data


# --- the operation program (cvmfs-operation) ------------------------------------------------------
def operation_config(repo: Stratum0, operation: str, parameters: dict[str, Any] | None = None,
                     **overrides: Any) -> dict[str, Any]:
    base = repo.config({"remove": {"paths": ["x"]}})
    config: dict[str, Any] = {
        "contractVersion": OPERATION_CONTRACT_VERSION, "operation": operation, "fqrn": FQRN,
        "stratum0Url": base["stratum0Url"], "s3": base["s3"], "settings": base["settings"],
        "reflogChecksum": None, "revisionBefore": None, "request": f"team/{operation}-1"}
    if parameters is not None:
        config[operation] = parameters
    config.update(overrides)
    return config


@dataclass
class OperationRun:
    code: int
    stderr: str
    result: dict[str, Any]


def start_operation(repo: Stratum0, config: dict[str, Any] | str, **extra: str) -> subprocess.Popen[str]:
    env = repo.env("{}", **extra)
    del env[contract.CONFIG_ENV]
    env[OPERATION_CONFIG_ENV] = config if isinstance(config, str) else json.dumps(config)
    return subprocess.Popen([sys.executable, "-m", "cvmfs_operator.publisher.operations"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_operation(repo: Stratum0, process: subprocess.Popen[str]) -> OperationRun:
    _, stderr = process.communicate(timeout=120)
    raw = repo.result_path.read_bytes()
    assert len(raw) < contract.RESULT_MAX_BYTES
    return OperationRun(process.returncode, stderr, dict(decode_operation_result(raw)))


def run_operation(repo: Stratum0, config: dict[str, Any] | str, **extra: str) -> OperationRun:
    return finish_operation(repo, start_operation(repo, config, **extra))


def fresh_pod(repo: Stratum0, master_key: bool = False) -> Stratum0:
    """Another pod on the same bucket (its own file-system root, the Secrets mounted, nothing else)."""
    import os
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="cvmfs-operation-"))
    os.chmod(root, 0o755)
    pod = Stratum0(s3=repo.s3, bucket=repo.bucket, root=root, prefix=repo.prefix)
    pod.mount_secrets()
    if master_key:
        mount_master_key(pod)
    return pod


def verbs(pod: Stratum0) -> list[str]:
    return pod.verbs()
