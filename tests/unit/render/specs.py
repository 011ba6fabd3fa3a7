"""Hand-written Repository and Transaction objects shared by the render tests."""

from __future__ import annotations

import copy

from cvmfs_operator.api.types import Repository, Transaction

FQRN = "software.example.org"
UID = "0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10"
OPERATOR_NS = "cvmfs-system"
IMAGE = "registry.example.org/cvmfs-publisher:1.0"

_S3_REPOSITORY: Repository = {
    "metadata": {"name": FQRN, "uid": "3f9d7c1a-0000-4000-8000-000000000001", "generation": 1},
    "spec": {
        "stratum0": {
            "url": "https://s3.example.org/cvmfs/software.example.org",
            "s3": {
                "endpoint": "https://s3.example.org",
                "bucket": "cvmfs",
                "credentialsSecretRef": {"name": "software-s3"},
            },
        },
        "keysSecretRef": {"name": "software-keys"},
        "allowedNamespaces": ["team-a"],
    },
}

_GATEWAY_REPOSITORY: Repository = {
    "metadata": {"name": FQRN, "uid": "3f9d7c1a-0000-4000-8000-000000000002", "generation": 1},
    "spec": {
        "stratum0": {
            "url": "http://stratum0.example.org/cvmfs/software.example.org",
            "gateway": {
                "url": "http://gateway.example.org:4929/api/v1",
                "keySecretRef": {"name": "software-gateway"},
            },
        },
        "keysSecretRef": {"name": "software-keys"},
        "allowedNamespaces": ["*"],
    },
}

_TARBALL_TRANSACTION: Transaction = {
    "metadata": {
        "name": "release-1",
        "namespace": "team-a",
        "uid": UID,
        "generation": 1,
        "creationTimestamp": "2024-05-01T12:00:00Z",
    },
    "spec": {
        "repository": FQRN,
        "path": "/sw/1.0",
        "payload": {"tarball": {"url": "https://downloads.example.org/sw-1.0.tar.gz"}},
    },
}


def s3_repository() -> Repository:
    return copy.deepcopy(_S3_REPOSITORY)


def gateway_repository() -> Repository:
    return copy.deepcopy(_GATEWAY_REPOSITORY)


def tarball_transaction() -> Transaction:
    return copy.deepcopy(_TARBALL_TRANSACTION)


def stage_transaction() -> Transaction:
    txn = tarball_transaction()
    txn["spec"]["payload"] = {
        "stage": {
            "image": "registry.example.org/team-a/builder:2",
            "command": ["/bin/sh", "-c"],
            "args": ["cp -a /build/. \"$STAGING_DIR\""],
        }
    }
    return txn
