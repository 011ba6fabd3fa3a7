"""The per-repository Lease: a complete manifest, valid for the API server."""

from __future__ import annotations

import datetime

import kubernetes_validate
import pytest

from cvmfs_operator.render import lock, names

NOW = datetime.datetime(2024, 5, 1, 12, 0, 3, 250000, tzinfo=datetime.UTC)


def test_lease_manifest() -> None:
    lease = lock.render_lock("software.example.org", "cvmfs-system",
                             "team-a/release-1/0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10", NOW)
    assert lease == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "cvmfs-lock-software-example-org-ecc7f74c",
            "namespace": "cvmfs-system",
            "labels": {
                "app.kubernetes.io/managed-by": "cvmfs-release-operator",
                "app.kubernetes.io/component": "repository-lock",
                "cvmfs.cern.ch/repository": "software.example.org",
            },
            "annotations": {"cvmfs.cern.ch/repository": "software.example.org"},
        },
        "spec": {
            "holderIdentity": "team-a/release-1/0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10",
            "acquireTime": "2024-05-01T12:00:03.250000Z",
        },
    }
    kubernetes_validate.validate(lease, "1.30", strict=True)


@pytest.mark.parametrize("fqrn", ["software.example.org", "x" * 40 + "." + "y" * 40 + ".example.org"])
def test_lease_name_is_the_lock_name_and_valid(fqrn: str) -> None:
    lease = lock.render_lock(fqrn, "cvmfs-system", "ns/name/uid", NOW)
    assert lease["metadata"]["name"] == names.lock_name(fqrn)
    assert len(lease["metadata"]["labels"]["cvmfs.cern.ch/repository"]) <= 63
    kubernetes_validate.validate(lease, "1.30", strict=True)


def test_micro_time_is_utc() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2024, 5, 1, 14, 0, 0, 1, tzinfo=plus_two)
    assert lock.micro_time(moment) == "2024-05-01T12:00:00.000001Z"
