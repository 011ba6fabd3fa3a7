"""Objects checked against each CRD's openAPIV3Schema (translated for ``jsonschema``): every example
and other good objects pass; each bad object is refused at exactly the expected field and keyword."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.crds.schema_tools import (
    DELETE,
    EXAMPLE_FILES,
    apply_defaults,
    changed,
    example,
    load_yaml,
    schema_errors,
    version_schema,
)

REPO = example("repository.yaml")
TARBALL = example("transaction-1-tarball.yaml")
SCRIPT = example("transaction-2-script.yaml")
CONDITION = {
    "type": "Ready",
    "status": "True",
    "reason": "Published",
    "message": "revision 4",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
    "observedGeneration": 1,
}


def test_examples_cover_every_kind() -> None:
    kinds = sorted(load_yaml(path)["kind"] for path in EXAMPLE_FILES)
    assert kinds == ["Repository", "Repository", *["RepositoryOperation"] * 5, "Transaction", "Transaction"]
    assert REPO["spec"]["publisher"]["allowScripts"] is True  # the script example needs it
    assert {TARBALL["spec"]["repository"], SCRIPT["spec"]["repository"]} == {REPO["metadata"]["name"]}
    assert {TARBALL["metadata"]["namespace"], SCRIPT["metadata"]["namespace"]} <= set(
        REPO["spec"]["allowedNamespaces"]
    )


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_example_is_valid(path: Any) -> None:
    obj = load_yaml(path)
    assert obj["apiVersion"] == "cvmfs.cern.ch/v1alpha1"
    assert schema_errors(obj["kind"], obj) == set()


GOOD: list[tuple[str, str, dict[str, Any]]] = [
    (
        "gateway repository",
        "Repository",
        changed(
            REPO,
            {
                "spec.stratum0.s3": DELETE,
                "spec.stratum0.gateway": {
                    "url": "http://gateway.example.org:4929/api/v1",
                    "keySecretRef": {"name": "software-example-org-gw"},
                },
            },
        ),
    ),
    (
        "minimal repository",
        "Repository",
        {
            "apiVersion": "cvmfs.cern.ch/v1alpha1",
            "kind": "Repository",
            "metadata": {"name": "a.b"},
            "spec": {
                "stratum0": {
                    "url": "http://h/a.b",
                    "s3": {"endpoint": "http://h", "bucket": "abc", "credentialsSecretRef": {"name": "s"}},
                },
                "keysSecretRef": {"name": "k"},
                "allowedNamespaces": [],
            },
        },
    ),
    (
        "integer and string quantities",
        "Repository",
        changed(
            REPO,
            {"spec.publisher.resources.requests": {"cpu": 1, "memory": "1.5Gi", "ephemeral-storage": "10G"}},
        ),
    ),
    (
        "device plugin publisher",
        "Repository",
        changed(
            REPO,
            {
                "spec.publisher.privilegeMode": "DevicePlugin",
                "spec.publisher.fuseDeviceResource": "smarter-devices/fuse",
                "spec.publisher.nodeSelector": {"kubernetes.io/os": "linux"},
                "spec.publisher.tolerations": [
                    {"key": "cvmfs", "operator": "Exists", "effect": "NoSchedule"}
                ],
            },
        ),
    ),
    (
        "ACL header omitted",
        "Repository",
        changed(REPO, {"spec.stratum0.s3.acl": "", "spec.allowedNamespaces": ["*"]}),
    ),
    (
        "repository status",
        "Repository",
        changed(
            REPO,
            {
                "status": {
                    "observedGeneration": 2,
                    "revision": 4,
                    "rootHash": "a" * 40,
                    "publishedAt": "2026-01-01T00:00:00Z",
                    "lastPublishTime": "2026-01-01T00:00:00Z",
                    "whitelistExpiresAt": "2026-01-31T00:00:00Z",
                    "reflogChecksum": "b" * 40,
                    "activeTransaction": None,
                    "queueLength": 0,
                    "conditions": [CONDITION],
                    "kopf": {"progress": {"anything": {"goes": 1}}},
                }
            },
        ),
    ),
    (
        "minimal transaction",
        "Transaction",
        {
            "apiVersion": "cvmfs.cern.ch/v1alpha1",
            "kind": "Transaction",
            "metadata": {"name": "t", "namespace": "n"},
            "spec": {"repository": "a.b", "payload": {"remove": {"paths": ["old"]}}},
        },
    ),
    (
        "stage transaction",
        "Transaction",
        changed(
            TARBALL,
            {
                "spec.payload": {
                    "stage": {
                        "image": "registry.example.org/build:1",
                        "command": ["/bin/sh", "-c"],
                        "args": ["make install"],
                    }
                },
                "spec.ttlSecondsAfterFinished": 0,
                "spec.resources": {"limits": {"memory": "8Gi", "cpu": "500m"}},
            },
        ),
    ),
    (
        "transaction status",
        "Transaction",
        changed(
            TARBALL,
            {
                "status": {
                    "phase": "Succeeded",
                    "reason": "Published",
                    "message": "published revision 4",
                    "observedGeneration": 1,
                    "conditions": [CONDITION, {**CONDITION, "type": "Reconciling", "status": "False"}],
                    "queuePosition": None,
                    "podName": None,
                    "attempts": 1,
                    "tag": "release-1.2.0",
                    "startTime": "2026-01-01T00:00:00Z",
                    "completionTime": "2026-01-01T00:02:13Z",
                    "duration": "2m13s",
                    "revisionBefore": 3,
                    "revisionAfter": 4,
                    "rootHash": "a" * 40,
                    "reflogChecksum": None,
                    "durations": {"mount": 1.5, "publish": 3},
                    "logTail": ["done"],
                    "lastFailure": {"attempt": 1, "reason": "PublishFailed", "message": "signing failed"},
                }
            },
        ),
    ),
]


@pytest.mark.parametrize(("kind", "obj"), [(k, o) for _, k, o in GOOD], ids=[i for i, _, _ in GOOD])
def test_good_object_is_valid(kind: str, obj: dict[str, Any]) -> None:
    assert schema_errors(kind, obj) == set()


def test_defaults_fill_the_documented_values() -> None:
    repo = apply_defaults(version_schema("Repository"), GOOD[1][2])
    assert repo["spec"]["stratum0"]["s3"] | {"credentialsSecretRef": None} == {
        "endpoint": "http://h",
        "bucket": "abc",
        "region": "us-east-1",
        "addressing": "path",
        "maxConnections": 16,
        "acl": "public-read",
        "credentialsSecretRef": None,
    }
    assert repo["spec"]["settings"] == {
        "hashAlgorithm": "sha1",
        "compressionAlgorithm": "default",
        "garbageCollection": False,
        "autoTag": True,
    }
    assert repo["spec"]["publisher"] == {
        "scratchSize": "20Gi",
        "privilegeMode": "Privileged",
        "allowScripts": False,
    }
    txn = apply_defaults(version_schema("Transaction"), GOOD[6][2])
    assert {k: txn["spec"].get(k) for k in ("path", "timeoutSeconds", "backoffLimit", "tag")} == {
        "path": "/",
        "timeoutSeconds": 3600,
        "backoffLimit": 2,
        "tag": None,
    }


R, T = "Repository", "Transaction"
BAD: list[tuple[str, str, dict[str, Any], dict[str, Any], tuple[str, str]]] = [
    # (id, kind, base object, changes, (refused field, JSON Schema keyword))
    (
        "bucket upper case",
        R,
        REPO,
        {"spec.stratum0.s3.bucket": "CVMFS"},
        ("spec.stratum0.s3.bucket", "pattern"),
    ),
    (
        "bucket too short",
        R,
        REPO,
        {"spec.stratum0.s3.bucket": "ab"},
        ("spec.stratum0.s3.bucket", "minLength"),
    ),
    ("bucket missing", R, REPO, {"spec.stratum0.s3.bucket": DELETE}, ("spec.stratum0.s3", "required")),
    (
        "addressing unknown",
        R,
        REPO,
        {"spec.stratum0.s3.addressing": "dns"},
        ("spec.stratum0.s3.addressing", "enum"),
    ),
    ("acl unknown", R, REPO, {"spec.stratum0.s3.acl": "public"}, ("spec.stratum0.s3.acl", "enum")),
    (
        "no connections",
        R,
        REPO,
        {"spec.stratum0.s3.maxConnections": 0},
        ("spec.stratum0.s3.maxConnections", "minimum"),
    ),
    (
        "too many connections",
        R,
        REPO,
        {"spec.stratum0.s3.maxConnections": 2000},
        ("spec.stratum0.s3.maxConnections", "maximum"),
    ),
    (
        "prefix with slashes",
        R,
        REPO,
        {"spec.stratum0.s3.prefix": "/cvmfs/"},
        ("spec.stratum0.s3.prefix", "pattern"),
    ),
    (
        "region with space",
        R,
        REPO,
        {"spec.stratum0.s3.region": "us east"},
        ("spec.stratum0.s3.region", "pattern"),
    ),
    (
        "credentials missing",
        R,
        REPO,
        {"spec.stratum0.s3.credentialsSecretRef": DELETE},
        ("spec.stratum0.s3", "required"),
    ),
    (
        "misspelled s3 field",
        R,
        REPO,
        {"spec.stratum0.s3.endpointUrl": "http://h"},
        ("spec.stratum0.s3", "additionalProperties"),
    ),
    ("stratum0 url missing", R, REPO, {"spec.stratum0.url": DELETE}, ("spec.stratum0", "required")),
    (
        "keys secret name invalid",
        R,
        REPO,
        {"spec.keysSecretRef.name": "Keys_Secret"},
        ("spec.keysSecretRef.name", "pattern"),
    ),
    ("keys secret missing", R, REPO, {"spec.keysSecretRef": DELETE}, ("spec", "required")),
    (
        "namespace upper case",
        R,
        REPO,
        {"spec.allowedNamespaces": ["Default"]},
        ("spec.allowedNamespaces[0]", "pattern"),
    ),
    (
        "namespace twice",
        R,
        REPO,
        {"spec.allowedNamespaces": ["a", "a"]},
        ("spec.allowedNamespaces", "uniqueItems"),
    ),
    ("namespaces missing", R, REPO, {"spec.allowedNamespaces": DELETE}, ("spec", "required")),
    (
        "hash unknown",
        R,
        REPO,
        {"spec.settings.hashAlgorithm": "md5"},
        ("spec.settings.hashAlgorithm", "enum"),
    ),
    (
        "gc not a bool",
        R,
        REPO,
        {"spec.settings.garbageCollection": "yes"},
        ("spec.settings.garbageCollection", "type"),
    ),
    (
        "scratch size unit",
        R,
        REPO,
        {"spec.publisher.scratchSize": "20GB"},
        ("spec.publisher.scratchSize", "pattern"),
    ),
    (
        "quantity with space",
        R,
        REPO,
        {"spec.publisher.resources.limits.memory": "4 GiB"},
        ("spec.publisher.resources.limits.memory", "pattern"),
    ),
    (
        "quantity a bool",
        R,
        REPO,
        {"spec.publisher.resources.requests.cpu": True},
        ("spec.publisher.resources.requests.cpu", "anyOf"),
    ),
    (
        "privilege mode unknown",
        R,
        REPO,
        {"spec.publisher.privilegeMode": "Unprivileged"},
        ("spec.publisher.privilegeMode", "enum"),
    ),
    (
        "toleration operator",
        R,
        REPO,
        {"spec.publisher.tolerations": [{"key": "a", "operator": "In"}]},
        ("spec.publisher.tolerations[0].operator", "enum"),
    ),
    (
        "fuse resource without domain",
        R,
        REPO,
        {"spec.publisher.fuseDeviceResource": "fuse"},
        ("spec.publisher.fuseDeviceResource", "pattern"),
    ),
    (
        "pull policy",
        R,
        REPO,
        {"spec.publisher.imagePullPolicy": "always"},
        ("spec.publisher.imagePullPolicy", "enum"),
    ),
    (
        "node selector not a string",
        R,
        REPO,
        {"spec.publisher.nodeSelector": {"a": 1}},
        ("spec.publisher.nodeSelector.a", "type"),
    ),
    (
        "condition twice",
        R,
        REPO,
        {"status.conditions": [CONDITION, CONDITION]},
        ("status.conditions", "x-unique-map-keys"),
    ),
    (
        "condition status",
        R,
        REPO,
        {"status.conditions": [{**CONDITION, "status": "Yes"}]},
        ("status.conditions[0].status", "enum"),
    ),
    (
        "condition reason",
        R,
        REPO,
        {"status.conditions": [{**CONDITION, "reason": "not camel"}]},
        ("status.conditions[0].reason", "pattern"),
    ),
    (
        "condition without time",
        R,
        REPO,
        {"status.conditions": [CONDITION], "status.conditions.0.lastTransitionTime": DELETE},
        ("status.conditions[0]", "required"),
    ),
    ("unknown status field", R, REPO, {"status.revison": 3}, ("status", "additionalProperties")),
    ("repository missing", T, TARBALL, {"spec.repository": DELETE}, ("spec", "required")),
    ("repository too long", T, TARBALL, {"spec.repository": "a" * 61}, ("spec.repository", "maxLength")),
    (
        "repository not a FQRN",
        T,
        TARBALL,
        {"spec.repository": "-software.example.org"},
        ("spec.repository", "pattern"),
    ),
    ("payload missing", T, TARBALL, {"spec.payload": DELETE}, ("spec", "required")),
    ("path with newline", T, TARBALL, {"spec.path": "/a\nb"}, ("spec.path", "pattern")),
    ("path too long", T, TARBALL, {"spec.path": "/" + "a" * 4096}, ("spec.path", "maxLength")),
    ("timeout zero", T, TARBALL, {"spec.timeoutSeconds": 0}, ("spec.timeoutSeconds", "minimum")),
    ("timeout over a day", T, TARBALL, {"spec.timeoutSeconds": 86401}, ("spec.timeoutSeconds", "maximum")),
    ("timeout a string", T, TARBALL, {"spec.timeoutSeconds": "3600"}, ("spec.timeoutSeconds", "type")),
    ("backoff negative", T, TARBALL, {"spec.backoffLimit": -1}, ("spec.backoffLimit", "minimum")),
    ("backoff over ten", T, TARBALL, {"spec.backoffLimit": 11}, ("spec.backoffLimit", "maximum")),
    (
        "ttl negative",
        T,
        TARBALL,
        {"spec.ttlSecondsAfterFinished": -1},
        ("spec.ttlSecondsAfterFinished", "minimum"),
    ),
    ("tag with space", T, TARBALL, {"spec.tag.name": "release 1"}, ("spec.tag.name", "pattern")),
    ("tag starts with dash", T, TARBALL, {"spec.tag.name": "-release"}, ("spec.tag.name", "pattern")),
    ("tag too long", T, TARBALL, {"spec.tag.name": "a" * 64}, ("spec.tag.name", "maxLength")),
    ("tarball url missing", T, TARBALL, {"spec.payload.tarball": {}}, ("spec.payload.tarball", "required")),
    (
        "unknown payload kind",
        T,
        TARBALL,
        {"spec.payload.git": {"url": "https://h/r.git"}},
        ("spec.payload", "additionalProperties"),
    ),
    (
        "stage without image",
        T,
        TARBALL,
        {"spec.payload": {"stage": {"command": ["make"]}}},
        ("spec.payload.stage", "required"),
    ),
    (
        "remove nothing",
        T,
        TARBALL,
        {"spec.payload": {"remove": {"paths": []}}},
        ("spec.payload.remove.paths", "minItems"),
    ),
    (
        "remove twice",
        T,
        TARBALL,
        {"spec.payload": {"remove": {"paths": ["a", "a"]}}},
        ("spec.payload.remove.paths", "uniqueItems"),
    ),
    (
        "remove empty path",
        T,
        TARBALL,
        {"spec.payload": {"remove": {"paths": [""]}}},
        ("spec.payload.remove.paths[0]", "minLength"),
    ),
    (
        "empty script",
        T,
        SCRIPT,
        {"spec.payload.script.source": ""},
        ("spec.payload.script.source", "minLength"),
    ),
    ("misspelled spec field", T, TARBALL, {"spec.timeoutSecond": 5}, ("spec", "additionalProperties")),
    ("phase unknown", T, TARBALL, {"status.phase": "Done"}, ("status.phase", "enum")),
    ("revision a string", T, TARBALL, {"status.revisionAfter": "4"}, ("status.revisionAfter", "type")),
]


@pytest.mark.parametrize(
    ("kind", "base", "changes", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_object_is_refused_at_the_field(
    kind: str, base: dict[str, Any], changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert schema_errors(kind, base) == set()
    assert schema_errors(kind, changed(base, changes)) == {expected}
