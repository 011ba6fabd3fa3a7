"""The operator's own checks of RepositoryOperations and Repository maintenance (every malformed field
named, the examples valid), agreeing with the CRD's CEL rules; effective values and key sets."""

from __future__ import annotations

import copy
import datetime
from typing import Any, cast

import pytest

from cvmfs_operator.api import operations, validation
from cvmfs_operator.api.types import Repository, RepositoryOperation
from tests.support.cluster import load_example
from tests.unit.crds import cel
from tests.unit.crds.test_cel_operations import CASES as CEL_CASES

UTC = datetime.UTC
KINDS = ("rollback", "tag", "resign", "gc", "check")
EXAMPLES = {kind: load_example(f"operation-{kind}.yaml")[0] for kind in KINDS}
CREATE = load_example("repository-create.yaml")[0]
REPO = load_example("repository.yaml")[0]


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
    for kind, body in EXAMPLES.items():
        assert operations.operation_errors(body) == [], kind
        assert operations.operation_kind(body) == kind
    assert operations.maintenance_errors(CREATE) == []
    assert validation.repository_errors(CREATE) == []
    assert operations.maintenance_errors(REPO) == []


@pytest.mark.parametrize("case", [c for c in CEL_CASES if c.old is None], ids=lambda c: c.id)
def test_the_operator_agrees_with_the_crd(case: Any) -> None:
    """What the CEL rules admit on create, the operator admits; what they refuse, it refuses."""
    assert (operations.operation_errors(case.obj) == []) == (not cel.violations(
        "RepositoryOperation", case.obj)), operations.operation_errors(case.obj)


OPERATION_ERRORS = [
    (EXAMPLES["rollback"], "spec", ..., "spec is required"),
    (EXAMPLES["rollback"], "spec.repository", "-x", "spec.repository must be a repository name"),
    (EXAMPLES["rollback"], "spec.check", {}, "exactly one of rollback, tag, resign, gc, check"),
    (EXAMPLES["rollback"], "spec.rollback", ..., "exactly one of"),
    (EXAMPLES["rollback"], "spec.rollback", "x", "spec.rollback must be an object"),
    (EXAMPLES["rollback"], "spec.rollback.tag", "trunk", "spec.rollback.tag must not be trunk"),
    (EXAMPLES["rollback"], "spec.rollback.tag", "a b", "spec.rollback.tag must be 1-255"),
    (EXAMPLES["rollback"], "spec.rollback.tag", ..., "spec.rollback.tag must be"),
    (EXAMPLES["tag"], "spec.tag.action", "rename", "spec.tag.action must be one of add, move, remove"),
    (EXAMPLES["tag"], "spec.tag.name", "trunk-previous", "spec.tag.name must not be trunk or trunk-previous"),
    (EXAMPLES["tag"], "spec.tag.name", "generic-1", "spec.tag.name must not start with generic-"),
    (EXAMPLES["tag"], "spec.tag.name", "v1:2", "spec.tag.name must be 1-63 of [A-Za-z0-9_.-]"),
    (EXAMPLES["tag"], "spec.tag.revision", 0, "spec.tag.revision must be an integer from 1"),
    (EXAMPLES["tag"], "spec.tag.revision", True, "spec.tag.revision must be an integer"),
    (EXAMPLES["tag"], "spec.tag.description", "$(id)", "spec.tag.description contains '$' '(' ')'"),
    (EXAMPLES["tag"], "spec.tag.description", 3, "spec.tag.description must be a string"),
    (EXAMPLES["resign"], "spec.resign.whitelistDays", 0,
     "spec.resign.whitelistDays must be an integer from 1 to 30"),
    (EXAMPLES["gc"], "spec.gc.keepRevisions", 0, "spec.gc.keepRevisions must be an integer from 1"),
    (EXAMPLES["gc"], "spec.gc.keepSince", "3 days ago", "spec.gc.keepSince must be an RFC 3339 time"),
    (EXAMPLES["gc"], "spec.gc.keepSince", "2026-11-01T00:00:00Z",
     "keepRevisions and spec.gc.keepSince are exclusive"),
    (EXAMPLES["gc"], "spec.gc.dryRun", "yes", "spec.gc.dryRun must be true or false"),
    (EXAMPLES["check"], "spec.check.tag", "$x", "spec.check.tag must be"),
    (EXAMPLES["check"], "spec.check.chunks", 1, "spec.check.chunks must be true or false"),
    (EXAMPLES["check"], "spec.timeoutSeconds", 0, "spec.timeoutSeconds must be an integer from 1 to 86400"),
    (EXAMPLES["check"], "spec.backoffLimit", 11, "spec.backoffLimit must be an integer from 0 to 10"),
]


@pytest.mark.parametrize(("body", "path", "value", "error"), OPERATION_ERRORS,
                         ids=[f"{p}={v!r}" for _, p, v, _ in OPERATION_ERRORS])
def test_operation_errors_name_the_field(body: dict[str, Any], path: str, value: Any, error: str) -> None:
    errors = operations.operation_errors(_with(body, path, value))
    assert any(error in e for e in errors), errors


def test_removing_a_tag_takes_any_existing_name_but_nothing_else() -> None:
    body = _with(EXAMPLES["tag"], "spec.tag",
                 {"action": "remove", "name": "generic-2026-11-22T02:23:13.123Z"})
    assert operations.operation_errors(body) == []
    assert operations.operation_errors(_with(body, "spec.tag.revision", 2)) == [
        "spec.tag.revision and spec.tag.description apply only to add and move"]


MAINTENANCE_ERRORS = [
    ("spec.masterKeySecretRef.name", "new-example-org-keys", "must name a Secret of its own"),
    ("spec.masterKeySecretRef", ..., "spec.create needs spec.masterKeySecretRef"),
    ("spec.create", "yes", "spec.create must be an object"),
    ("spec.create.whitelistDays", 31, "spec.create.whitelistDays must be an integer from 1 to 30"),
    ("spec.maintenance", [], "spec.maintenance must be an object"),
    ("spec.maintenance.resign.leadTime", "720h", "leadTime must be shorter than whitelistDays"),
    ("spec.maintenance.resign.leadTime", "7d", "leadTime must be a positive duration"),
    ("spec.maintenance.resign.leadTime", "0s", "leadTime must be a positive duration"),
    ("spec.maintenance.resign.enabled", "no", "spec.maintenance.resign.enabled must be true or false"),
    ("spec.maintenance.gc.schedule", "0 0 30 2 *", "spec.maintenance.gc.schedule '0 0 30 2 *' never fires"),
    ("spec.maintenance.gc.schedule", ..., "spec.maintenance.gc.schedule is required"),
    ("spec.maintenance.check.schedule", "61 * * * *", "spec.maintenance.check.schedule minute: 61"),
    ("spec.maintenance.check", "daily", "spec.maintenance.check must be an object"),
    ("spec.maintenance.gc.keepRevisions", 3, "keepRevisions and keepFor are exclusive"),
    ("spec.maintenance.gc.keepFor", "3 days", "spec.maintenance.gc.keepFor must be a positive duration"),
    ("spec.settings.garbageCollection", False, "spec.maintenance.gc needs spec.settings.garbageCollection"),
]


@pytest.mark.parametrize(("path", "value", "error"), MAINTENANCE_ERRORS,
                         ids=[f"{p}={v!r}" for p, v, _ in MAINTENANCE_ERRORS])
def test_maintenance_errors_name_the_field(path: str, value: Any, error: str) -> None:
    errors = operations.maintenance_errors(_with(CREATE, path, value))
    assert any(error in e for e in errors), errors


def test_create_needs_s3() -> None:
    gateway = _with(CREATE, "spec.stratum0",
                    {"url": "http://x", "gateway": {"url": "http://gw", "keySecretRef": {"name": "gw"}}})
    assert "spec.create needs spec.stratum0.s3" in operations.maintenance_errors(gateway)


@pytest.mark.parametrize(("text", "seconds"), [("168h", 604800), ("1h30m", 5400), ("90s", 90), ("2m", 120)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert operations.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7d", "1.5h", "h", "-1h", "1h 30m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        operations.parse_duration(text)


def test_effective_operation_values() -> None:
    gc = cast(RepositoryOperation, EXAMPLES["gc"])
    assert (operations.timeout_seconds(gc), operations.backoff_limit(gc)) == (3600, 2)
    tuned = cast(RepositoryOperation, _with(EXAMPLES["gc"], "spec.timeoutSeconds", 600))
    assert operations.timeout_seconds(tuned) == 600


def test_resign_policy_and_when_it_is_due() -> None:
    repo = cast(Repository, CREATE)
    policy = operations.resign_policy(repo)
    assert policy == operations.ResignPolicy(True, datetime.timedelta(hours=168), 30)
    now = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    assert operations.resign_due(repo, now + datetime.timedelta(days=7), now)
    assert not operations.resign_due(repo, now + datetime.timedelta(days=7, seconds=1), now)
    off = cast(Repository, _with(CREATE, "spec.maintenance.resign.enabled", False))
    assert not operations.resign_due(off, now, now)
    # Without a master key Secret nothing can re-sign (the Repository gets a condition instead).
    assert not operations.resign_policy(cast(Repository, REPO)).enabled
    assert operations.resign_policy(cast(Repository, REPO)).lead_time == datetime.timedelta(hours=168)


def test_a_scheduled_gc_keeps_revisions_younger_than_keep_for_at_its_slot() -> None:
    slot = datetime.datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert operations.gc_keep_since("72h", slot) == "2026-12-03T03:00:00Z"
    assert operations.gc_keep_since(None, slot) is None


def test_each_operation_gets_only_the_keys_it_needs() -> None:
    assert operations.keys_needed("check") == operations.KeySet(("pub",), master_key=False)
    assert operations.keys_needed("gc") == operations.KeySet(("pub",), master_key=False)
    assert operations.keys_needed("resign") == operations.KeySet(("crt",), master_key=True)
    assert operations.keys_needed("create") == operations.KeySet(("crt", "key", "pub"), master_key=True)
    for kind in ("rollback", "tag"):
        assert operations.keys_needed(kind) == operations.KeySet(("crt", "key", "pub"), master_key=False)
    assert {k for k in operations.KEYS if operations.KEYS[k].master_key} == {"resign", "create"}


def test_what_a_repository_cannot_run_at_all() -> None:
    created, plain = cast(Repository, CREATE), cast(Repository, REPO)
    assert [operations.refusal(kind, created) for kind in (*KINDS, "create")] == [None] * 6
    assert operations.refusal("gc", plain) is not None
    assert operations.refusal("gc", plain)[0] == "GarbageCollectionDisabled"  # type: ignore[index]
    assert operations.refusal("resign", plain)[0] == "NoMasterKey"  # type: ignore[index]
    assert operations.refusal("rollback", plain) is None
    gateway = cast(Repository, _with(CREATE, "spec.stratum0", {"url": "http://x", "gateway": {
        "url": "http://gw", "keySecretRef": {"name": "gw"}}}))
    assert operations.refusal("check", gateway) is None
    for kind in ("rollback", "tag", "resign", "gc"):
        assert operations.refusal(kind, gateway)[0] == "NotSupportedWithGateway"  # type: ignore[index]
