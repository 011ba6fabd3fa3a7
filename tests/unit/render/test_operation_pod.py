"""The pod of a repository operation: one complete expected manifest, then the publisher pods'
security posture checked on every operation kind, and the master key kept out of publisher pods."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import kubernetes_validate
import pytest

from cvmfs_operator.api import operations
from cvmfs_operator.api.types import Manifest, Repository, RepositoryOperation
from cvmfs_operator.render import names
from cvmfs_operator.render.operation_pod import (
    OperationPodInputs,
    creation_of,
    inputs_for,
    render_operation_pod,
    subject_of,
)
from cvmfs_operator.render.pod import PodInputs, render_pod
from tests.unit.render import specs

K8S_VERSION = "1.30"
OP_UID = "7d1e5b8a-1111-4222-8333-944455556666"
CONFIG = {"fqrn": specs.FQRN, "operation": "resign", "whitelistDays": 30}
SPECS: dict[str, dict[str, Any]] = {
    "rollback": {"tag": "release-1.2.0"},
    "tag": {"action": "add", "name": "stable", "description": "Stable line"},
    "resign": {"whitelistDays": 30},
    "gc": {"keepRevisions": 5},
    "check": {"chunks": True},
}


def repository(*, master: bool = True) -> Repository:
    repo = specs.s3_repository()
    if master:
        repo["spec"]["masterKeySecretRef"] = {"name": "software-masterkey"}
    return repo


def operation(kind: str, **spec: Any) -> RepositoryOperation:
    op: Any = {
        "metadata": {"name": f"{kind}-now", "namespace": "team-a", "uid": OP_UID, "generation": 1},
        "spec": {"repository": specs.FQRN, kind: copy.deepcopy(SPECS[kind]), **spec},
    }
    return op  # type: ignore[no-any-return]


def render(op: RepositoryOperation, repo: Repository, attempt: int = 1) -> Manifest:
    return render_operation_pod(inputs_for(op, repo, namespace=specs.OPERATOR_NS, default_image=specs.IMAGE,
                                           attempt=attempt, config=CONFIG))


def validate(obj: Manifest) -> None:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"not a valid {obj['kind']} for Kubernetes {K8S_VERSION}: {exc.message}")


def test_resign_pod_in_full() -> None:
    pod = render(operation("resign"), repository())
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.operation_pod_name("team-a", "resign-now", OP_UID, 1),
            "namespace": "cvmfs-system",
            "labels": {
                "app.kubernetes.io/managed-by": "cvmfs-release-operator",
                "app.kubernetes.io/component": "operation",
                "cvmfs.cern.ch/repository": "software.example.org",
                "cvmfs.cern.ch/operation": "resign",
                "cvmfs.cern.ch/operation-uid": OP_UID,
                "cvmfs.cern.ch/operation-namespace": "team-a",
                "cvmfs.cern.ch/operation-name": "resign-now",
                "cvmfs.cern.ch/attempt": "1",
            },
            "annotations": {
                "cvmfs.cern.ch/repository-operation": "team-a/resign-now",
                "cvmfs.cern.ch/repository": "software.example.org",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 60,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{
                "name": "operation",
                "image": "registry.example.org/cvmfs-publisher:1.0",
                "imagePullPolicy": "IfNotPresent",
                "command": ["cvmfs-operation"],
                "env": [{"name": "CVMFS_OPERATION_CONFIG",
                         "value": '{"fqrn":"software.example.org","operation":"resign","whitelistDays":30}'}],
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": {"privileged": True, "runAsUser": 0},
                "volumeMounts": [
                    {"name": "keys", "mountPath": "/run/cvmfs/keys", "readOnly": True},
                    {"name": "master-key", "mountPath": "/run/cvmfs/masterkey", "readOnly": True},
                    {"name": "s3-credentials", "mountPath": "/run/cvmfs/s3", "readOnly": True},
                    {"name": "spool", "mountPath": "/var/spool/cvmfs"},
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "volumes": [
                {"name": "keys", "secret": {"secretName": "software-keys", "defaultMode": 0o400, "items": [
                    {"key": "software.example.org.crt", "path": "software.example.org.crt"}]}},
                {"name": "master-key", "secret": {"secretName": "software-masterkey", "defaultMode": 0o400,
                                                  "items": [{"key": "software.example.org.masterkey",
                                                             "path": "software.example.org.masterkey"}]}},
                {"name": "s3-credentials", "secret": {
                    "secretName": "software-s3", "defaultMode": 0o400, "items": [
                        {"key": "accessKeyId", "path": "accessKeyId"},
                        {"key": "secretAccessKey", "path": "secretAccessKey"}]}},
                {"name": "spool", "emptyDir": {"sizeLimit": "20Gi"}},
            ],
        },
    }
    validate(pod)


def _device_plugin(repo: Repository) -> Repository:
    repo["spec"]["publisher"] = {
        "privilegeMode": "DevicePlugin", "fuseDeviceResource": "smarter-devices/fuse",
        "image": "registry.example.org/own-publisher:2", "imagePullPolicy": "Always",
        "nodeSelector": {"cvmfs.example.org/publisher": "true"},
        "tolerations": [{"key": "cvmfs", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}, "scratchSize": "100Gi",
    }
    return repo


def _gateway(repo: Repository) -> Repository:
    gateway = specs.gateway_repository()
    gateway["spec"]["masterKeySecretRef"] = repo["spec"]["masterKeySecretRef"]
    return gateway


REPOSITORIES = {"s3": lambda r: r, "device-plugin": _device_plugin, "gateway": _gateway}
CASES = list(itertools.product(sorted(SPECS), sorted(REPOSITORIES)))


@pytest.fixture(params=CASES, ids=[f"{k}-{r}" for k, r in CASES])
def rendered(request: pytest.FixtureRequest) -> tuple[str, Repository, Manifest]:
    kind, variant = request.param
    repo = REPOSITORIES[variant](repository())
    return kind, repo, render(operation(kind, timeoutSeconds=900), repo, attempt=3)


Rendered = tuple[str, Repository, Manifest]


def _volume(pod: Manifest, name: str) -> dict[str, Any] | None:
    found = [v for v in pod["spec"]["volumes"] if v["name"] == name]
    return found[0] if found else None


def test_every_kind_on_every_repository_is_a_valid_pod(rendered: Rendered) -> None:
    validate(rendered[2])


def test_same_posture_as_publisher_pods(rendered: Rendered) -> None:
    _, repo, pod = rendered
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 900
    publisher = render_pod(PodInputs(transaction=specs.tarball_transaction(), repository=repo,
                                     namespace=specs.OPERATOR_NS, default_image=specs.IMAGE, attempt=1,
                                     reflog_checksum=None, revision_before=None))
    (ours,) = spec["containers"]
    (theirs,) = publisher["spec"]["containers"]
    for field in ("image", "imagePullPolicy", "securityContext", "resources", "terminationMessagePath"):
        assert ours[field] == theirs[field], field
    for field in ("nodeSelector", "tolerations", "terminationGracePeriodSeconds"):
        assert spec.get(field) == publisher["spec"].get(field), field
    assert _volume(pod, "spool") == _volume(publisher, "spool")
    for storage in ("s3-credentials", "gateway-key"):
        assert _volume(pod, storage) == _volume(publisher, storage)


def test_only_the_keys_the_operation_needs_read_only_0400(rendered: Rendered) -> None:
    kind, repo, pod = rendered
    fqrn = repo["metadata"]["name"]
    needed = operations.keys_needed(kind)
    keys = _volume(pod, "keys")
    assert keys is not None
    assert keys["secret"]["secretName"] == repo["spec"]["keysSecretRef"]["name"]
    assert [i["key"] for i in keys["secret"]["items"]] == [f"{fqrn}.{s}" for s in needed.repository]
    master = _volume(pod, "master-key")
    assert (master is not None) is needed.master_key is (kind == "resign")
    if master is not None:
        assert master["secret"]["items"] == [{"key": f"{fqrn}.masterkey", "path": f"{fqrn}.masterkey"}]
        assert master["secret"]["secretName"] == repo["spec"]["masterKeySecretRef"]["name"]
    secrets = {v["name"] for v in pod["spec"]["volumes"] if "secret" in v}
    for volume in pod["spec"]["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["defaultMode"] == 0o400
            assert "items" in volume["secret"]
    for mount in pod["spec"]["containers"][0]["volumeMounts"]:
        assert not mount["mountPath"].startswith("/etc/cvmfs")
        assert (mount.get("readOnly") is True) is (mount["name"] in secrets)


def test_labels_link_the_pod_to_its_operation_and_repository(rendered: Rendered) -> None:
    kind, repo, pod = rendered
    labels = pod["metadata"]["labels"]
    assert labels[names.LABEL_OPERATION_UID] == OP_UID
    assert labels[names.LABEL_OPERATION] == kind
    assert labels[names.LABEL_REPOSITORY] == names.label_value(repo["metadata"]["name"])
    assert labels[names.LABEL_ATTEMPT] == "3"
    assert labels[names.LABEL_COMPONENT] == "operation"  # never listed as a publisher pod
    assert pod["metadata"]["name"] == names.operation_pod_name("team-a", f"{kind}-now", OP_UID, 3)


def test_the_config_is_passed_as_compact_json(rendered: Rendered) -> None:
    (env,) = rendered[2]["spec"]["containers"][0]["env"]
    assert env["name"] == "CVMFS_OPERATION_CONFIG"
    assert json.loads(env["value"]) == CONFIG


def test_pod_names_are_deterministic_per_uid_and_attempt_and_bounded() -> None:
    op = operation("gc")
    op["metadata"]["name"] = "gc." + "x" * 240
    op["metadata"]["namespace"] = "n" * 63
    first, again = render(op, repository(), 1), render(op, repository(), 1)
    second = render(op, repository(), 2)
    assert first["metadata"]["name"] == again["metadata"]["name"] != second["metadata"]["name"]
    assert len(first["metadata"]["name"]) <= 63
    other = copy.deepcopy(op)
    other["metadata"]["uid"] = "another-uid"
    assert render(other, repository(), 1)["metadata"]["name"] != first["metadata"]["name"]
    validate(first)


def test_creating_a_repository_mounts_every_key_and_the_master_key() -> None:
    repo = repository()
    pod = render_operation_pod(OperationPodInputs(
        subject=creation_of(repo), repository=repo, namespace=specs.OPERATOR_NS, default_image=specs.IMAGE,
        attempt=1, config={"fqrn": specs.FQRN}, timeout_seconds=600))
    validate(pod)
    labels = pod["metadata"]["labels"]
    assert labels[names.LABEL_OPERATION] == "create"
    assert labels[names.LABEL_OPERATION_UID] == repo["metadata"]["uid"]
    assert names.LABEL_OPERATION_NAMESPACE not in labels
    assert pod["metadata"]["annotations"][names.ANNOTATION_OPERATION] == specs.FQRN
    items = [i["key"] for v in pod["spec"]["volumes"] if "secret" in v for i in v["secret"]["items"]]
    fqrn = specs.FQRN
    assert items == [f"{fqrn}.crt", f"{fqrn}.key", f"{fqrn}.pub", f"{fqrn}.masterkey", "accessKeyId",
                     "secretAccessKey"]


def test_an_explicit_key_set_and_command_override_the_defaults() -> None:
    repo = repository()
    inputs = inputs_for(operation("check"), repo, namespace="ns", default_image="i", attempt=1, config={})
    pod = render_operation_pod(OperationPodInputs(**{
        **inputs.__dict__, "keys": operations.KeySet(("pub",), master_key=False), "command": ("x", "y")}))
    assert [i["key"] for i in _volume(pod, "keys")["secret"]["items"]] == [f"{specs.FQRN}.pub"]  # type: ignore[index]
    assert pod["spec"]["containers"][0]["command"] == ["x", "y"]


def test_the_master_key_needs_its_secret_reference() -> None:
    with pytest.raises(ValueError, match="masterKeySecretRef"):
        render(operation("resign"), repository(master=False))
    render(operation("check"), repository(master=False))  # a check never needs it


def test_an_operation_without_exactly_one_kind_has_no_subject() -> None:
    op = operation("gc")
    op["spec"]["check"] = {}
    with pytest.raises(ValueError, match="exactly one operation"):
        subject_of(op)


def test_rendering_does_not_mutate_its_inputs() -> None:
    op, repo = operation("tag"), _device_plugin(repository())
    before = copy.deepcopy((op, repo, CONFIG))
    render(op, repo)
    assert (op, repo, CONFIG) == before


@pytest.mark.parametrize("variant", ["s3", "gateway", "device-plugin"])
@pytest.mark.parametrize("payload", ["tarball", "stage"])
def test_a_publish_pod_never_mounts_the_master_key(variant: str, payload: str) -> None:
    repo = REPOSITORIES[variant](repository())  # the Repository has a master key Secret
    txn = specs.tarball_transaction() if payload == "tarball" else specs.stage_transaction()
    pod = render_pod(PodInputs(transaction=txn, repository=repo, namespace=specs.OPERATOR_NS, attempt=1,
                               default_image=specs.IMAGE, reflog_checksum=None, revision_before=None))
    text = json.dumps(pod)
    assert "masterkey" not in text
    assert repo["spec"]["masterKeySecretRef"]["name"] not in text
    secrets = {v["name"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert secrets <= {"keys", "s3-credentials", "gateway-key"}
