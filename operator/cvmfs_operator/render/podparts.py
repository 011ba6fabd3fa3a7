"""What every pod that mounts a repository shares, publisher and operation pods alike: the security
posture (privilege for FUSE and overlayfs, no service account token, secrets read-only with mode
0400), the storage credentials, the spool, resources and placement from the Repository."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import PublisherSpec, Repository

DEFAULT_SCRATCH_SIZE = "20Gi"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"memory": "4Gi"},
}
TERMINATION_GRACE_SECONDS = 60  # time for `cvmfs_server abort -f` after SIGTERM
SECRET_FILE_MODE = 0o400

Volumes = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # (pod volumes, container mounts)


def publisher_spec(repo: Repository) -> PublisherSpec:
    return repo["spec"].get("publisher", {})


def secret_volume(volume: str, secret: str, items: list[str]) -> dict[str, Any]:
    """A Secret volume exposing only ``items``, each readable by its owner only."""
    return {
        "name": volume,
        "secret": {
            "secretName": secret,
            "defaultMode": SECRET_FILE_MODE,
            "items": [{"key": key, "path": key} for key in items],
        },
    }


def storage_volumes(repo: Repository) -> Volumes:
    """The S3 credentials or the gateway key, whichever the Repository's stratum 0 uses."""
    fqrn = repo["metadata"]["name"]
    stratum0 = repo["spec"]["stratum0"]
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if "s3" in stratum0:
        secret = stratum0["s3"]["credentialsSecretRef"]["name"]
        volumes.append(secret_volume(
            "s3-credentials", secret, [contract.S3_ACCESS_KEY_FILE, contract.S3_SECRET_KEY_FILE]))
        mounts.append({"name": "s3-credentials", "mountPath": contract.S3_CREDENTIALS_DIR, "readOnly": True})
    if "gateway" in stratum0:
        secret = stratum0["gateway"]["keySecretRef"]["name"]
        volumes.append(secret_volume("gateway-key", secret, [f"{fqrn}.gw"]))
        mounts.append({"name": "gateway-key", "mountPath": contract.GATEWAY_KEY_DIR, "readOnly": True})
    return volumes, mounts


def spool_volume(repo: Repository) -> Volumes:
    """The spool emptyDir, bounded by the Repository's scratch size."""
    scratch = publisher_spec(repo).get("scratchSize", DEFAULT_SCRATCH_SIZE)
    return ([{"name": "spool", "emptyDir": {"sizeLimit": scratch}}],
            [{"name": "spool", "mountPath": contract.SPOOL_DIR}])


def privilege(publisher: PublisherSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """securityContext and extra resource limits for FUSE + overlayfs (CVMFS.md §5)."""
    if publisher.get("privilegeMode", "Privileged") == "DevicePlugin":
        device = publisher.get("fuseDeviceResource", "smarter-devices/fuse")
        return {
            "runAsUser": 0,
            "allowPrivilegeEscalation": True,  # the setuid cvmfs_suid_helper must work
            "capabilities": {"add": ["SYS_ADMIN"]},
            "appArmorProfile": {"type": "Unconfined"},  # runtime default profiles deny mount
            "seccompProfile": {"type": "Unconfined"},
        }, {device: "1"}
    return {"privileged": True, "runAsUser": 0}, {}


def resources(chosen: dict[str, dict[str, str]] | None, extra_limits: dict[str, str]) -> dict[str, Any]:
    """``chosen`` (or the defaults), with the FUSE device both requested and limited."""
    result = {kind: dict(values) for kind, values in (chosen or DEFAULT_RESOURCES).items()}
    if extra_limits:
        result.setdefault("limits", {}).update(extra_limits)
        result.setdefault("requests", {}).update(extra_limits)
    return result


def pod_spec(container: dict[str, Any], volumes: list[dict[str, Any]], publisher: PublisherSpec,
             deadline_seconds: int) -> dict[str, Any]:
    """A run-once pod: no restarts, a deadline, no service account token, no service links."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_seconds,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": volumes,
    }
    if publisher.get("nodeSelector"):
        spec["nodeSelector"] = dict(publisher["nodeSelector"])
    if publisher.get("tolerations"):
        spec["tolerations"] = [dict(t) for t in publisher["tolerations"]]
    return spec
