"""RepositoryOperations the operator creates for a Repository's maintenance: complete manifests,
valid against the CRD (schema and CEL), named once per schedule slot or whitelist expiry."""

from __future__ import annotations

import datetime
from typing import Any, cast

import pytest

from cvmfs_operator.api import cron, operations
from cvmfs_operator.api.types import Repository
from cvmfs_operator.render import names
from cvmfs_operator.render.operation import resign_operation, scheduled_operation
from tests.support.cluster import load_example
from tests.unit.crds import cel
from tests.unit.crds.schema_tools import schema_errors

UTC = datetime.UTC
REPO = cast(Repository, load_example("repository-create.yaml")[0])
NS = "cvmfs-system"
SLOT = datetime.datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _valid(obj: dict[str, Any]) -> None:
    assert schema_errors("RepositoryOperation", obj) == set()
    assert cel.violations("RepositoryOperation", obj) == set()
    assert operations.operation_errors(obj) == []


def test_scheduled_gc_in_full() -> None:
    op = scheduled_operation(REPO, "gc", SLOT, NS)
    assert op == {
        "apiVersion": "cvmfs.cern.ch/v1alpha1",
        "kind": "RepositoryOperation",
        "metadata": {
            "name": names.scheduled_operation_name("gc", "new.example.org", SLOT),
            "namespace": "cvmfs-system",
            "labels": {
                "app.kubernetes.io/managed-by": "cvmfs-release-operator",
                "app.kubernetes.io/component": "maintenance",
                "cvmfs.cern.ch/repository": "new.example.org",
                "cvmfs.cern.ch/operation": "gc",
            },
            "annotations": {"cvmfs.cern.ch/repository": "new.example.org",
                            "cvmfs.cern.ch/schedule-slot": "2026-12-06T03:00:00Z"},
        },
        "spec": {"repository": "new.example.org", "gc": {"keepSince": "2026-12-03T03:00:00Z"}},
    }
    assert op["metadata"]["name"].startswith("gc-20261206-0300-new-example-org-")
    _valid(op)


def test_scheduled_gc_keeping_revisions_and_scheduled_check() -> None:
    maintenance = {"gc": {"schedule": "@daily", "keepRevisions": 4},
                   "check": {"schedule": "@weekly", "chunks": False}}
    repo = cast(Repository, {**REPO, "spec": {**REPO["spec"], "maintenance": maintenance}})
    gc = scheduled_operation(repo, "gc", SLOT, NS)
    assert gc["spec"]["gc"] == {"keepRevisions": 4}
    check = scheduled_operation(repo, "check", SLOT, NS)
    assert check["spec"] == {"repository": "new.example.org", "check": {"chunks": False}}
    assert check["metadata"]["name"].startswith("check-20261206-0300-")
    for op in (gc, check):
        _valid(op)


def test_the_resign_before_expiry() -> None:
    expires = datetime.datetime(2026, 12, 31, 2, 23, 13, tzinfo=UTC)
    op = resign_operation(REPO, expires, NS)
    assert op["spec"] == {"repository": "new.example.org", "resign": {"whitelistDays": 30}}
    assert op["metadata"]["name"] == names.resign_operation_name("new.example.org", expires)
    assert op["metadata"]["name"].startswith("resign-20261231-0223-new-example-org-")
    assert op["metadata"]["annotations"]["cvmfs.cern.ch/schedule-slot"] == "2026-12-31T02:23:13Z"
    _valid(op)


def test_one_name_per_slot_whoever_computes_it() -> None:
    now = datetime.datetime(2026, 12, 8, 11, 17, 42, tzinfo=UTC)
    schedule = REPO["spec"]["maintenance"]["gc"]["schedule"]
    slot = cron.last_fire(schedule, now)
    later = cron.last_fire(schedule, now + datetime.timedelta(hours=5))  # a restart, another replica
    assert slot == later == SLOT.replace(day=6)
    first = scheduled_operation(REPO, "gc", slot, NS)
    assert scheduled_operation(REPO, "gc", later, NS) == first
    cest = datetime.timezone(datetime.timedelta(hours=2))
    elsewhere = names.scheduled_operation_name("gc", "new.example.org", slot.astimezone(cest))
    assert elsewhere == first["metadata"]["name"]
    following = cron.next_fire(schedule, slot)
    assert scheduled_operation(REPO, "gc", following, NS)["metadata"]["name"] != first["metadata"]["name"]
    assert names.scheduled_operation_name("check", "new.example.org", slot) != first["metadata"]["name"]
    assert names.scheduled_operation_name("gc", "other.example.org", slot) != first["metadata"]["name"]


def test_names_are_bounded_for_long_repository_names() -> None:
    fqrn = "a-very-long-repository-name-for-testing." + "sub." * 4 + "example.org"
    for name in (names.scheduled_operation_name("check", fqrn, SLOT), names.resign_operation_name(fqrn, SLOT),
                 names.operation_pod_name("n" * 63, "x" * 253, "uid", 10)):
        assert len(name) <= 63
        assert name == name.lower()
    assert "20261206-0300" in names.scheduled_operation_name("check", fqrn, SLOT)


@pytest.mark.parametrize("kind", ["gc", "check"])
def test_unscheduled_kinds_are_refused(kind: str) -> None:
    repo = cast(Repository, {**REPO, "spec": {k: v for k, v in REPO["spec"].items() if k != "maintenance"}})
    with pytest.raises(ValueError, match="schedules no"):
        scheduled_operation(repo, kind, SLOT, NS)
    with pytest.raises(ValueError, match="not a scheduled operation"):
        scheduled_operation(REPO, "rollback", SLOT, NS)
