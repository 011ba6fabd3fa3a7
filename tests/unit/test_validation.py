"""The operator's own shape checks: every malformed field is named, valid objects pass."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cvmfs_operator.api import validation
from tests.support.cluster import load_example

REPO = load_example("repository.yaml")[0]
TXN = load_example("transaction-1-tarball.yaml")[0]


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(body)
    node = result
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return result


def test_the_examples_are_valid() -> None:
    assert validation.repository_errors(REPO) == []
    staged = _with(REPO, "spec.staging", {"s3": {"endpoint": "https://s3.example.org:8443", "bucket": "stage",
                                                  "prefix": "incoming/sw"}})
    assert validation.repository_errors(staged) == []
    for name in ("transaction-1-tarball.yaml", "transaction-2-script.yaml"):
        assert validation.transaction_errors(load_example(name)[0]) == []


@pytest.mark.parametrize(("path", "value", "error"), [
    ("spec", ..., "spec is required"),
    ("spec.repository", ..., "spec.repository is required"),
    ("spec.repository", 7, "spec.repository must be a non-empty string"),
    ("spec.repository", "-bad", "spec.repository must be a repository name"),
    ("spec.path", "relative/dir", "spec.path must be absolute"),
    ("spec.path", "/a/../b", "spec.path must not contain '.' or '..' segments"),
    ("spec.path", "/a//b", "spec.path must not contain '//'"),
    ("spec.path", "/a/", "spec.path must not end with '/'"),
    ("spec.payload", ..., "spec.payload is required"),
    ("spec.payload", {"tarball": {"url": "https://x/a.tgz"}, "script": {"source": "true"}},
     "exactly one of tarball, stage, remove, script"),
    ("spec.payload", {}, "exactly one of"),
    ("spec.payload", {"tarball": {"url": "ftp://x/a.tgz"}}, "spec.payload.tarball.url must be"),
    ("spec.payload", {"remove": {"paths": ["/abs"]}}, "entry '/abs' must be relative"),
    ("spec.payload", {"remove": {"paths": ["a/../../etc"]}}, "entry 'a/../../etc' must not contain"),
    ("spec.payload", {"remove": {"paths": []}}, "spec.payload.remove.paths must be a non-empty list"),
    ("spec.payload", {"stage": {}}, "spec.payload.stage.image is required"),
    ("spec.payload", {"tarball": {"url": "s3://b/k.tar", "sha256": "ABCD"}},
     "spec.payload.tarball.sha256 must be 64 lowercase hexadecimal digits"),
    ("spec.tag", {"name": "trunk"}, "spec.tag.name must be"),
    ("spec.tag", {"name": "has space"}, "spec.tag.name must be"),
    ("spec.timeoutSeconds", 0, "spec.timeoutSeconds must be an integer from 1 to 86400"),
    ("spec.backoffLimit", 11, "spec.backoffLimit must be an integer from 0 to 10"),
    ("spec.backoffLimit", True, "spec.backoffLimit must be an integer"),
])
def test_a_malformed_transaction_names_the_field(path: str, value: Any, error: str) -> None:
    errors = validation.transaction_errors(_with(TXN, path, value))
    assert any(error in e for e in errors), errors


@pytest.mark.parametrize(("path", "value", "error"), [
    ("metadata.name", "x" * 61, "metadata.name must be a repository name"),
    ("spec.stratum0", ..., "spec.stratum0 is required"),
    ("spec.stratum0.s3", ..., "exactly one of s3, gateway"),
    ("spec.stratum0.gateway", {"url": "http://gw:4929/api/v1", "keySecretRef": {"name": "gw"}},
     "exactly one of s3, gateway"),
    ("spec.stratum0.s3.bucket", ..., "spec.stratum0.s3.bucket is required"),
    ("spec.stratum0.s3.credentialsSecretRef", ..., "spec.stratum0.s3.credentialsSecretRef is required"),
    ("spec.keysSecretRef", {}, "spec.keysSecretRef.name is required"),
    ("spec.allowedNamespaces", "default", "spec.allowedNamespaces must be a list"),
    ("spec.staging", {"s3": {"bucket": "stage"}}, "spec.staging.s3.endpoint is required"),
    ("spec.staging", {"s3": {"endpoint": "http://s3/x", "bucket": "stage"}},
     "spec.staging.s3.endpoint must be"),
    ("spec.staging", {"s3": {"endpoint": "http://s3", "bucket": "stage", "prefix": "/a"}},
     "spec.staging.s3.prefix must be"),
])
def test_a_malformed_repository_names_the_field(path: str, value: Any, error: str) -> None:
    errors = validation.repository_errors(_with(REPO, path, value))
    assert any(error in e for e in errors), errors
