"""The publisher pod, compared with complete expected manifests, then checked property by property.

The expected manifests are written out in full on purpose (kubespawner ``test_objects`` style): a
changed field shows up here as a diff that a reviewer reads, not as a silently updated snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import Manifest, Repository, Transaction
from cvmfs_operator.render import names
from cvmfs_operator.render.pod import PodInputs, render_pod
from tests.unit.render import specs

K8S_VERSION = "1.30"

TXN_LABELS = {
    "app.kubernetes.io/managed-by": "cvmfs-release-operator",
    "app.kubernetes.io/component": "publisher",
    "cvmfs.cern.ch/repository": "software.example.org",
    "cvmfs.cern.ch/transaction-uid": "0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10",
    "cvmfs.cern.ch/transaction-namespace": "team-a",
    "cvmfs.cern.ch/transaction-name": "release-1",
}

KEYS_VOLUME = {
    "name": "keys",
    "secret": {
        "secretName": "software-keys",
        "defaultMode": 0o400,
        "items": [
            {"key": "software.example.org.crt", "path": "software.example.org.crt"},
            {"key": "software.example.org.key", "path": "software.example.org.key"},
            {"key": "software.example.org.pub", "path": "software.example.org.pub"},
        ],
    },
}
S3_VOLUME = {
    "name": "s3-credentials",
    "secret": {
        "secretName": "software-s3",
        "defaultMode": 0o400,
        "items": [
            {"key": "accessKeyId", "path": "accessKeyId"},
            {"key": "secretAccessKey", "path": "secretAccessKey"},
        ],
    },
}
KEYS_MOUNT = {"name": "keys", "mountPath": "/run/cvmfs/keys", "readOnly": True}
S3_MOUNT = {"name": "s3-credentials", "mountPath": "/run/cvmfs/s3", "readOnly": True}
SPOOL_MOUNT = {"name": "spool", "mountPath": "/var/spool/cvmfs"}

S3_TARGET = {
    "endpoint": "https://s3.example.org",
    "bucket": "cvmfs",
    "region": "us-east-1",
    "dnsBuckets": False,
    "prefix": "software.example.org",
    "maxConnections": 16,
    "acl": "public-read",
}
DEFAULT_DESCRIPTION = "Published by Transaction team-a/release-1 uid 0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10"


def config_env(config: dict[str, Any]) -> list[dict[str, str]]:
    """The env list of the publisher container (compact JSON with sorted keys, written here)."""
    return [{"name": "CVMFS_PUBLISHER_CONFIG",
             "value": json.dumps(config, sort_keys=True, separators=(",", ":"))}]


def render(txn: Transaction, repo: Repository, *, attempt: int = 1, reflog: str | None = "c" * 40,
           revision: int | None = 7) -> Manifest:
    return render_pod(PodInputs(transaction=txn, repository=repo, namespace=specs.OPERATOR_NS,
                                default_image=specs.IMAGE, attempt=attempt, reflog_checksum=reflog,
                                revision_before=revision))


def validate(obj: Manifest) -> None:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:  # the full message is a schema dump
        pytest.fail(f"not a valid {obj['kind']} for Kubernetes {K8S_VERSION}: {exc.message}")


# --------------------------------------------------------------------------------------------
# Complete manifests
# --------------------------------------------------------------------------------------------


def test_s3_repository_with_a_tarball() -> None:
    pod = render(specs.tarball_transaction(), specs.s3_repository())
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cvmfs-pub-a1-team-a-release-1-78220c22",
            "namespace": "cvmfs-system",
            "labels": {**TXN_LABELS, "cvmfs.cern.ch/attempt": "1"},
            "annotations": {
                "cvmfs.cern.ch/transaction": "team-a/release-1",
                "cvmfs.cern.ch/tag": "team-a_release-1",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{
                "name": "publisher",
                "image": "registry.example.org/cvmfs-publisher:1.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["cvmfs-publisher"],
                "env": config_env({
                    "contractVersion": 1,
                    "fqrn": "software.example.org",
                    "stratum0Url": "https://s3.example.org/cvmfs/software.example.org",
                    "s3": S3_TARGET,
                    "settings": {},
                    "path": "/sw/1.0",
                    "payload": {"tarball": {"url": "https://downloads.example.org/sw-1.0.tar.gz"}},
                    "tagName": "team-a_release-1",
                    "tagDescription": DEFAULT_DESCRIPTION,
                    "reflogChecksum": "c" * 40,
                    "revisionBefore": 7,
                    "transaction": "team-a/release-1",
                    "allowScripts": False,
                }),
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [KEYS_MOUNT, S3_MOUNT, SPOOL_MOUNT],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [KEYS_VOLUME, S3_VOLUME, {"name": "spool", "emptyDir": {"sizeLimit": "20Gi"}}],
        },
    }
    validate(pod)


def test_stage_payload_runs_unprivileged_without_keys_in_an_init_container() -> None:
    txn = specs.stage_transaction()
    txn["spec"]["tag"] = {"name": "sw-1.0", "description": "Software 1.0"}
    pod = render(txn, specs.s3_repository(), attempt=2, reflog=None, revision=None)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cvmfs-pub-a2-team-a-release-1-56d27116",
            "namespace": "cvmfs-system",
            "labels": {**TXN_LABELS, "cvmfs.cern.ch/attempt": "2"},
            "annotations": {"cvmfs.cern.ch/transaction": "team-a/release-1", "cvmfs.cern.ch/tag": "sw-1.0"},
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "initContainers": [{
                "name": "stage",
                "image": "registry.example.org/team-a/builder:2",
                "command": ["/bin/sh", "-c"],
                "args": ["cp -a /build/. \"$STAGING_DIR\""],
                "env": [
                    {"name": "STAGING_DIR", "value": "/var/staging"},
                    {"name": "CVMFS_TRANSACTION_PATH", "value": "/sw/1.0"},
                ],
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [{"name": "staging", "mountPath": "/var/staging"}],
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "containers": [{
                "name": "publisher",
                "image": "registry.example.org/cvmfs-publisher:1.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["cvmfs-publisher"],
                "env": config_env({
                    "contractVersion": 1,
                    "fqrn": "software.example.org",
                    "stratum0Url": "https://s3.example.org/cvmfs/software.example.org",
                    "s3": S3_TARGET,
                    "settings": {},
                    "path": "/sw/1.0",
                    "payload": {"stage": {
                        "image": "registry.example.org/team-a/builder:2",
                        "command": ["/bin/sh", "-c"],
                        "args": ["cp -a /build/. \"$STAGING_DIR\""],
                    }},
                    "tagName": "sw-1.0",
                    "tagDescription": "Software 1.0 - Transaction team-a/release-1 uid "
                                      "0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10",
                    "reflogChecksum": None,
                    "revisionBefore": None,
                    "transaction": "team-a/release-1",
                    "allowScripts": False,
                }),
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [
                    KEYS_MOUNT, S3_MOUNT, SPOOL_MOUNT,
                    {"name": "staging", "mountPath": "/var/staging", "readOnly": True},
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [
                KEYS_VOLUME, S3_VOLUME,
                {"name": "spool", "emptyDir": {"sizeLimit": "20Gi"}},
                {"name": "staging", "emptyDir": {}},
            ],
        },
    }
    validate(pod)


def test_gateway_mode_mounts_the_gateway_key_and_not_the_repository_key() -> None:
    pod = render(specs.tarball_transaction(), specs.gateway_repository())
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cvmfs-pub-a1-team-a-release-1-78220c22",
            "namespace": "cvmfs-system",
            "labels": {**TXN_LABELS, "cvmfs.cern.ch/attempt": "1"},
            "annotations": {
                "cvmfs.cern.ch/transaction": "team-a/release-1",
                "cvmfs.cern.ch/tag": "team-a_release-1",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{
                "name": "publisher",
                "image": "registry.example.org/cvmfs-publisher:1.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["cvmfs-publisher"],
                "env": config_env({
                    "contractVersion": 1,
                    "fqrn": "software.example.org",
                    "stratum0Url": "http://stratum0.example.org/cvmfs/software.example.org",
                    "gateway": {"url": "http://gateway.example.org:4929/api/v1"},
                    "settings": {},
                    "path": "/sw/1.0",
                    "payload": {"tarball": {"url": "https://downloads.example.org/sw-1.0.tar.gz"}},
                    "tagName": "team-a_release-1",
                    "tagDescription": DEFAULT_DESCRIPTION,
                    "reflogChecksum": "c" * 40,
                    "revisionBefore": 7,
                    "transaction": "team-a/release-1",
                    "allowScripts": False,
                }),
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [
                    KEYS_MOUNT,
                    {"name": "gateway-key", "mountPath": "/run/cvmfs/gateway", "readOnly": True},
                    SPOOL_MOUNT,
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [
                {"name": "keys", "secret": {
                    "secretName": "software-keys",
                    "defaultMode": 0o400,
                    "items": [
                        {"key": "software.example.org.crt", "path": "software.example.org.crt"},
                        {"key": "software.example.org.pub", "path": "software.example.org.pub"},
                    ],
                }},
                {"name": "gateway-key", "secret": {
                    "secretName": "software-gateway",
                    "defaultMode": 0o400,
                    "items": [{"key": "software.example.org.gw", "path": "software.example.org.gw"}],
                }},
                {"name": "spool", "emptyDir": {"sizeLimit": "20Gi"}},
            ],
        },
    }
    validate(pod)


def test_device_plugin_mode_asks_for_the_fuse_device_instead_of_privilege() -> None:
    repo = specs.s3_repository()
    repo["spec"]["publisher"] = {
        "image": "registry.example.org/cvmfs-publisher:2.0",
        "imagePullPolicy": "Always",
        "scratchSize": "50Gi",
        "privilegeMode": "DevicePlugin",
        "allowScripts": True,
    }
    txn = specs.tarball_transaction()
    txn["spec"]["payload"] = {"script": {"source": "rm -rf old\n"}}
    del txn["spec"]["path"]
    pod = render(txn, repo)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cvmfs-pub-a1-team-a-release-1-78220c22",
            "namespace": "cvmfs-system",
            "labels": {**TXN_LABELS, "cvmfs.cern.ch/attempt": "1"},
            "annotations": {
                "cvmfs.cern.ch/transaction": "team-a/release-1",
                "cvmfs.cern.ch/tag": "team-a_release-1",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{
                "name": "publisher",
                "image": "registry.example.org/cvmfs-publisher:2.0",
                "imagePullPolicy": "Always",
                "command": ["cvmfs-publisher"],
                "env": config_env({
                    "contractVersion": 1,
                    "fqrn": "software.example.org",
                    "stratum0Url": "https://s3.example.org/cvmfs/software.example.org",
                    "s3": S3_TARGET,
                    "settings": {},
                    "path": "/",
                    "payload": {"script": {"source": "rm -rf old\n"}},
                    "tagName": "team-a_release-1",
                    "tagDescription": DEFAULT_DESCRIPTION,
                    "reflogChecksum": "c" * 40,
                    "revisionBefore": 7,
                    "transaction": "team-a/release-1",
                    "allowScripts": True,
                }),
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi", "smarter-devices/fuse": "1"},
                    "limits": {"memory": "4Gi", "smarter-devices/fuse": "1"},
                },
                "securityContext": {
                    "runAsUser": 0,
                    "allowPrivilegeEscalation": True,
                    "capabilities": {"add": ["SYS_ADMIN"]},
                    "appArmorProfile": {"type": "Unconfined"},
                    "seccompProfile": {"type": "Unconfined"},
                },
                "volumeMounts": [KEYS_MOUNT, S3_MOUNT, SPOOL_MOUNT],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [KEYS_VOLUME, S3_VOLUME, {"name": "spool", "emptyDir": {"sizeLimit": "50Gi"}}],
        },
    }
    validate(pod)


def test_scheduling_and_resource_overrides() -> None:
    """Repository publisher settings and S3 options; the Transaction's resources win whole."""
    repo = specs.s3_repository()
    repo["spec"]["stratum0"]["s3"].update({
        "region": "eu-west-1", "addressing": "virtual", "prefix": "sw", "maxConnections": 4, "acl": "",
    })
    repo["spec"]["settings"] = {"hashAlgorithm": "shake128", "compressionAlgorithm": "zlib"}
    repo["spec"]["publisher"] = {
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
        "nodeSelector": {"cvmfs.example.org/publisher": "true"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "cvmfs", "effect": "NoSchedule"}],
        "privilegeMode": "DevicePlugin",
        "fuseDeviceResource": "github.com/fuse",
    }
    txn = specs.tarball_transaction()
    txn["spec"].update({
        "timeoutSeconds": 900,
        "resources": {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"cpu": "4", "memory": "6Gi"}},
    })
    pod = render(txn, repo, attempt=3)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cvmfs-pub-a3-team-a-release-1-9ecce188",
            "namespace": "cvmfs-system",
            "labels": {**TXN_LABELS, "cvmfs.cern.ch/attempt": "3"},
            "annotations": {
                "cvmfs.cern.ch/transaction": "team-a/release-1",
                "cvmfs.cern.ch/tag": "team-a_release-1",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 900,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "nodeSelector": {"cvmfs.example.org/publisher": "true"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "cvmfs", "effect": "NoSchedule"},
            ],
            "containers": [{
                "name": "publisher",
                "image": "registry.example.org/cvmfs-publisher:1.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["cvmfs-publisher"],
                "env": config_env({
                    "contractVersion": 1,
                    "fqrn": "software.example.org",
                    "stratum0Url": "https://s3.example.org/cvmfs/software.example.org",
                    "s3": {
                        "endpoint": "https://s3.example.org",
                        "bucket": "cvmfs",
                        "region": "eu-west-1",
                        "dnsBuckets": True,
                        "prefix": "sw",
                        "maxConnections": 4,
                        "acl": "",
                    },
                    "settings": {"hashAlgorithm": "shake128", "compressionAlgorithm": "zlib"},
                    "path": "/sw/1.0",
                    "payload": {"tarball": {"url": "https://downloads.example.org/sw-1.0.tar.gz"}},
                    "tagName": "team-a_release-1",
                    "tagDescription": DEFAULT_DESCRIPTION,
                    "reflogChecksum": "c" * 40,
                    "revisionBefore": 7,
                    "transaction": "team-a/release-1",
                    "allowScripts": False,
                }),
                "resources": {
                    "requests": {"cpu": "2", "memory": "3Gi", "github.com/fuse": "1"},
                    "limits": {"cpu": "4", "memory": "6Gi", "github.com/fuse": "1"},
                },
                "securityContext": {
                    "runAsUser": 0,
                    "allowPrivilegeEscalation": True,
                    "capabilities": {"add": ["SYS_ADMIN"]},
                    "appArmorProfile": {"type": "Unconfined"},
                    "seccompProfile": {"type": "Unconfined"},
                },
                "volumeMounts": [KEYS_MOUNT, S3_MOUNT, SPOOL_MOUNT],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [KEYS_VOLUME, S3_VOLUME, {"name": "spool", "emptyDir": {"sizeLimit": "20Gi"}}],
        },
    }
    validate(pod)


def test_repository_resources_apply_when_the_transaction_sets_none() -> None:
    repo = specs.s3_repository()
    repo["spec"]["publisher"] = {"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "8Gi"}}}
    pod = render(specs.tarball_transaction(), repo)
    expected = {"requests": {"cpu": "1"}, "limits": {"memory": "8Gi"}}
    assert pod["spec"]["containers"][0]["resources"] == expected


def test_rendering_does_not_mutate_its_inputs_or_the_defaults() -> None:
    repo = specs.s3_repository()
    repo["spec"]["publisher"] = {"privilegeMode": "DevicePlugin",
                                 "resources": {"limits": {"memory": "8Gi"}}}
    txn = specs.stage_transaction()
    before = (json.dumps(repo, sort_keys=True), json.dumps(txn, sort_keys=True))
    first = render(txn, repo)
    second = render(txn, repo)
    assert first == second
    assert (json.dumps(repo, sort_keys=True), json.dumps(txn, sort_keys=True)) == before
    plain = render(specs.tarball_transaction(), specs.s3_repository())
    assert plain["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}


def test_stage_container_does_not_request_the_fuse_device() -> None:
    repo = specs.s3_repository()
    repo["spec"]["publisher"] = {"privilegeMode": "DevicePlugin"}
    pod = render(specs.stage_transaction(), repo)
    (stage,) = pod["spec"]["initContainers"]
    assert stage["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}
    validate(pod)


# --------------------------------------------------------------------------------------------
# Properties over a set of variants
# --------------------------------------------------------------------------------------------


def _privileged_s3() -> tuple[Transaction, Repository]:
    return specs.tarball_transaction(), specs.s3_repository()


def _stage_s3() -> tuple[Transaction, Repository]:
    return specs.stage_transaction(), specs.s3_repository()


def _gateway() -> tuple[Transaction, Repository]:
    return specs.tarball_transaction(), specs.gateway_repository()


def _stage_gateway_device_plugin() -> tuple[Transaction, Repository]:
    repo = specs.gateway_repository()
    repo["spec"]["publisher"] = {"privilegeMode": "DevicePlugin", "scratchSize": "5Gi"}
    txn = specs.stage_transaction()
    txn["spec"]["timeoutSeconds"] = 120
    return txn, repo


def _remove_long_names() -> tuple[Transaction, Repository]:
    txn = specs.tarball_transaction()
    txn["metadata"]["namespace"] = "n" * 63
    txn["metadata"]["name"] = "release." + "x" * 200 + ".final"
    txn["spec"]["payload"] = {"remove": {"paths": ["old", "older/lib"]}}
    txn["spec"]["timeoutSeconds"] = 86400
    repo = specs.s3_repository()
    repo["metadata"]["name"] = "a-very-long-repository-name-for-testing." + "sub." * 10 + "example.org"
    repo["spec"]["publisher"] = {"scratchSize": "1Ti"}
    return txn, repo


VARIANTS: dict[str, Callable[[], tuple[Transaction, Repository]]] = {
    "privileged-s3": _privileged_s3,
    "stage-s3": _stage_s3,
    "gateway": _gateway,
    "stage-gateway-device-plugin": _stage_gateway_device_plugin,
    "remove-long-names": _remove_long_names,
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[Transaction, Repository, Manifest]:
    txn, repo = VARIANTS[request.param]()
    return txn, repo, render(txn, repo, attempt=2)


Variant = tuple[Transaction, Repository, Manifest]


def _publisher(pod: Manifest) -> dict[str, Any]:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "publisher"]
    return dict(container)


def _volume(pod: Manifest, name: str) -> dict[str, Any]:
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == name]
    return dict(volume)


def test_every_variant_is_a_valid_pod(variant: Variant) -> None:
    validate(variant[2])


def test_no_service_account_token_and_never_restarted(variant: Variant) -> None:
    spec = variant[2]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"


def test_deadline_is_the_transaction_timeout(variant: Variant) -> None:
    txn, _, pod = variant
    assert pod["spec"]["activeDeadlineSeconds"] == txn["spec"].get("timeoutSeconds", 3600)


def test_keys_are_read_only_0400_outside_etc_cvmfs_keys_and_never_the_masterkey(variant: Variant) -> None:
    _, repo, pod = variant
    fqrn = repo["metadata"]["name"]
    keys = _volume(pod, "keys")["secret"]
    assert keys["secretName"] == repo["spec"]["keysSecretRef"]["name"]
    assert keys["defaultMode"] == 0o400 == 256
    paths = {item["path"] for item in keys["items"]}
    assert f"{fqrn}.masterkey" not in paths
    assert {item["key"] for item in keys["items"]} == paths
    assert all(not item["key"].endswith(".masterkey") for item in keys["items"])
    gateway = "gateway" in repo["spec"]["stratum0"]
    assert (f"{fqrn}.key" in paths) is not gateway
    for volume in pod["spec"]["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["defaultMode"] == 0o400
            assert "items" in volume["secret"], "a Secret is mounted whole (could expose the masterkey)"
    secret_volumes = {v["name"] for v in pod["spec"]["volumes"] if "secret" in v}
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
    for container in containers:
        for mount in container.get("volumeMounts", []):
            assert not mount["mountPath"].startswith("/etc/cvmfs/keys")
            if mount["name"] in secret_volumes:
                assert mount.get("readOnly") is True
                assert container["name"] == "publisher"


def test_scratch_is_an_empty_dir_with_the_scratch_size_limit(variant: Variant) -> None:
    _, repo, pod = variant
    size = repo["spec"].get("publisher", {}).get("scratchSize", "20Gi")
    assert _volume(pod, "spool") == {"name": "spool", "emptyDir": {"sizeLimit": size}}
    assert {"name": "spool", "mountPath": contract.SPOOL_DIR} in _publisher(pod)["volumeMounts"]


def test_labels_link_the_pod_to_its_transaction_and_repository(variant: Variant) -> None:
    txn, repo, pod = variant
    labels = pod["metadata"]["labels"]
    meta = txn["metadata"]
    assert labels[names.LABEL_TRANSACTION_UID] == meta["uid"]
    assert labels[names.LABEL_TRANSACTION_NAMESPACE] == meta["namespace"]
    assert labels[names.LABEL_ATTEMPT] == "2"
    name_label = labels[names.LABEL_TRANSACTION_NAME]
    repo_label = labels[names.LABEL_REPOSITORY]
    for value, full in ((name_label, meta["name"]), (repo_label, repo["metadata"]["name"])):
        assert len(value) <= 63
        assert value == full if len(full) <= 63 else value[:20] == full[:20]
    annotations = pod["metadata"]["annotations"]
    assert annotations["cvmfs.cern.ch/transaction"] == f"{meta['namespace']}/{meta['name']}"
    assert pod["metadata"]["namespace"] == specs.OPERATOR_NS


def test_termination_message_path_is_the_result_path(variant: Variant) -> None:
    container = _publisher(variant[2])
    assert container["terminationMessagePath"] == contract.RESULT_PATH
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_config_env_decodes_and_carries_path_tag_and_payload(variant: Variant) -> None:
    txn, repo, pod = variant
    (env,) = _publisher(pod)["env"]
    assert env["name"] == contract.CONFIG_ENV
    config = contract.decode_config(env["value"])
    assert config["path"] == txn["spec"].get("path", "/")
    assert config["payload"] == txn["spec"]["payload"]
    assert config["tagName"] == pod["metadata"]["annotations"]["cvmfs.cern.ch/tag"]
    assert config["fqrn"] == repo["metadata"]["name"]
    assert ("s3" in config) == ("s3" in repo["spec"]["stratum0"])
    assert ("gateway" in config) == ("gateway" in repo["spec"]["stratum0"])
    assert "secret" not in env["value"].lower()


def test_stage_init_container_has_no_privilege_keys_or_credentials(variant: Variant) -> None:
    txn, _, pod = variant
    if "stage" not in txn["spec"]["payload"]:
        assert "initContainers" not in pod["spec"]
        assert all(v["name"] != "staging" for v in pod["spec"]["volumes"])
        return
    (stage,) = pod["spec"]["initContainers"]
    security = stage["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert stage["volumeMounts"] == [{"name": "staging", "mountPath": contract.STAGING_DIR}]
    assert "envFrom" not in stage
    assert all("valueFrom" not in e for e in stage["env"])
    assert all(e["name"] != contract.CONFIG_ENV for e in stage["env"])
    assert _volume(pod, "staging") == {"name": "staging", "emptyDir": {}}
    assert {"name": "staging", "mountPath": contract.STAGING_DIR, "readOnly": True} \
        in _publisher(pod)["volumeMounts"]


def test_pod_name_is_a_bounded_dns_label(variant: Variant) -> None:
    name = variant[2]["metadata"]["name"]
    assert len(name) <= 63
    assert names.slug(name, 63) == name
