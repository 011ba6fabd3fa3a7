"""``reconcile.operation``, ``reconcile.maintenance`` and ``reconcile.creation``: one hand-built
observation per branch (pure, no I/O)."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from typing import Any

import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import OperationErrorClass, OperationResult
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.api.types import Repository, RepositoryOperation
from cvmfs_operator.reconcile import creation, maintenance
from cvmfs_operator.reconcile import operation as decisions
from cvmfs_operator.reconcile.actions import (
    AcquireLock,
    BreakLock,
    CreatePod,
    Done,
    ReadStratum0,
    ReleaseLock,
    SetStatus,
    Wait,
)
from cvmfs_operator.reconcile.observed import PodView, QueueEntry, Stratum0View
from cvmfs_operator.reconcile.operation_status import OperationObserved
from tests.unit.reconcile.builders import INTERVAL, NOW, OTHER, OTHER_ENTRY, ago, text_ago
from tests.unit.render import specs

UID = "0b5e2d0e-0000-4000-8000-0000000000aa"
ME = f"team-a/back/{UID}"
ME_ENTRY = QueueEntry(created="2024-05-01T12:00:00Z", namespace="team-a", name="back", uid=UID)
FQRN = specs.FQRN


def operation(phase: Phase | None = None, namespace: str = "team-a", **spec: Any) -> RepositoryOperation:
    body = spec or {"rollback": {"tag": "v1"}}
    op: dict[str, Any] = {"apiVersion": "cvmfs.cern.ch/v1alpha1", "kind": "RepositoryOperation",
                          "metadata": {"name": "back", "namespace": namespace, "uid": UID, "generation": 1,
                                       "creationTimestamp": "2024-05-01T12:00:00Z"},
                          "spec": {"repository": FQRN, **body}}
    if phase is not None:
        op["status"] = {"phase": phase.value}
    return op  # type: ignore[return-value]


def repository(**spec: Any) -> Repository:
    repo = specs.s3_repository()
    repo["spec"].update(spec)  # type: ignore[typeddict-item]
    return repo


def observed(op: RepositoryOperation, *, repo: Repository | None = None, no_repo: bool = False,
             lock: str | None = None, holder_alive: bool = True, lock_age: float | None = None,
             pods: list[PodView] | None = None, queue: list[QueueEntry] | None = None,
             stratum0: Stratum0View | None = None) -> OperationObserved:
    return OperationObserved(operation=op, repository=None if no_repo else (repo or repository()),
                             lock_holder=lock, lock_age=lock_age, holder_alive=holder_alive,
                             pods=pods or [], queue=[ME_ENTRY] if queue is None else queue, now=NOW,
                             reconcile_interval=INTERVAL, operator_namespace="cvmfs-system",
                             stratum0=stratum0)


def apply(obs: OperationObserved, action: SetStatus) -> OperationObserved:
    op = copy.deepcopy(obs.operation)
    op["status"] = dict(action.status)  # type: ignore[typeddict-item]
    return dataclasses.replace(obs, operation=op)


def read(**facts: Any) -> Stratum0View:
    facts.setdefault("revision", 4)
    facts.setdefault("root_hash", "r4")
    return Stratum0View(reflog_read=True, **facts)


def result(kind: str = "rollback", error: OperationErrorClass | None = None, **fields: Any) -> str:
    body: OperationResult = {
        "contractVersion": 1, "operation": kind,
        "outcome": (contract.Outcome.FAILED if error else contract.Outcome.SUCCEEDED).value,
        "errorClass": error.value if error else None, "step": "operate" if error else None,
        "message": "done", "revisionBefore": 4, "revisionAfter": 5, "rootHash": "r5",
        "reflogChecksum": "c5", "whitelistExpiry": None, "gc": None, "check": None,
        "durations": {"operate": 1.0}, "logTail": ["line"],
    }
    body.update(fields)  # type: ignore[typeddict-item]
    return json.dumps(body)


def ended(message: str, attempt: int = 1, phase: str = "Succeeded") -> PodView:
    return PodView(name=f"op-a{attempt}", attempt=attempt, phase=phase, termination_message=message,
                   exit_code=0 if phase == "Succeeded" else 15, created=ago(30), started=ago(25),
                   finished=ago(5))


def test_an_invalid_spec_fails_once_naming_the_fields() -> None:
    obs = observed(operation(gc={}, check={}))
    action = decisions.refuse_invalid(obs, ["spec must set exactly one of rollback, tag, resign, gc, check"])
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Failed", "InvalidSpec")
    assert decisions.refuse_invalid(apply(obs, action), ["x"]) == Done()


@pytest.mark.parametrize(("op", "repo", "reason"), [
    (operation(namespace="elsewhere"), repository(), "NamespaceNotAllowed"),
    (operation(gc={}), repository(), "GarbageCollectionDisabled"),
    (operation(resign={}), repository(), "NoMasterKey"),
])
def test_refusals_fail_before_any_pod(op: RepositoryOperation, repo: Repository, reason: str) -> None:
    action = decisions.decide(observed(op, repo=repo))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Failed", reason)
    assert action.warning
    conditions = {c["type"]: c["status"] for c in action.status["conditions"]}
    assert conditions == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    assert action.status["operation"] in ("rollback", "gc", "resign")  # type: ignore[typeddict-item]


def test_the_operators_namespace_is_always_allowed() -> None:
    action = decisions.decide(observed(operation(namespace="cvmfs-system"), queue=[
        QueueEntry(created="2024-05-01T12:00:00Z", namespace="cvmfs-system", name="back", uid=UID)]))
    assert action == AcquireLock()


def test_without_its_repository_it_waits_pending() -> None:
    action = decisions.decide(observed(operation(), no_repo=True))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Pending", "RepositoryNotFound")


def test_it_queues_behind_a_transaction_created_before_it() -> None:
    obs = observed(operation(), lock=OTHER, queue=[OTHER_ENTRY, ME_ENTRY])
    action = decisions.decide(obs)
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["queuePosition"]) == ("Queued", 1)
    assert isinstance(decisions.decide(apply(obs, action)), Wait)


def test_its_queue_position_is_written_on_joining_and_when_next_as_a_transactions_is() -> None:
    """The queue is shared: an operation's position costs at most two writes, not one per
    hand-over (reconcile/queueing.position_stale, the same rule as for Transactions)."""
    ahead = [QueueEntry(created=f"2024-05-01T11:{minute:02d}:00Z", namespace="team-q", name=f"q{minute}",
                        uid=f"u-{minute}") for minute in range(4)]
    obs = observed(operation(), lock=OTHER, queue=[*ahead, ME_ENTRY])
    action = decisions.decide(obs)
    assert isinstance(action, SetStatus)
    assert action.status["queuePosition"] == 5
    after = apply(obs, action)
    for done in range(1, 4):  # positions 4, 3, 2: the written 5 stays a true upper bound
        assert isinstance(decisions.decide(observed(after.operation, lock=OTHER,
                                                    queue=[*ahead[done:], ME_ENTRY])), Wait)
    action = decisions.decide(observed(after.operation, lock=OTHER, queue=[ME_ENTRY]))
    assert isinstance(action, SetStatus)
    assert action.status["queuePosition"] == 1


def test_a_dead_holder_is_broken_only_after_the_stale_time() -> None:
    queue = [ME_ENTRY]
    assert isinstance(decisions.decide(observed(operation(), lock=OTHER, holder_alive=False, lock_age=10,
                                                queue=queue)), SetStatus)
    assert decisions.decide(observed(operation(), lock=OTHER, holder_alive=False, lock_age=100,
                                     queue=queue)) == BreakLock(OTHER)


def test_with_the_lock_it_reads_the_repository_then_starts_with_its_reflog() -> None:
    assert decisions.decide(observed(operation(), lock=ME)) == ReadStratum0(reflog=True)
    s0 = read(tag_revision=3, tag_hash="r3", bucket_reflog="c4")
    assert decisions.decide(observed(operation(), lock=ME, stratum0=s0)) == CreatePod(1, "c4")


def test_a_reflog_changed_behind_the_operators_back_holds_rollback_but_not_check() -> None:
    repo = repository(settings={"garbageCollection": True})
    repo["status"] = {"reflogChecksum": "mine"}
    s0 = read(tag_revision=3, bucket_reflog="theirs")
    held = decisions.decide(observed(operation(), repo=repo, lock=ME, stratum0=s0))
    assert isinstance(held, SetStatus)
    assert held.status["reason"] == "ReflogMismatch"
    assert held.repository is not None
    assert "reflogMismatch" in held.repository
    assert decisions.decide(observed(operation(check={}), repo=repo, lock=ME, stratum0=s0)) == \
        CreatePod(1, "theirs")


@pytest.mark.parametrize(("spec", "s0"), [
    ({"rollback": {"tag": "v1"}}, read(tag_revision=4, tag_hash="r4")),
    ({"tag": {"action": "add", "name": "stable"}}, read(tag_revision=4, tag_hash="r4")),
    ({"tag": {"action": "move", "name": "stable", "revision": 2}}, read(tag_revision=2, tag_hash="r2")),
    ({"tag": {"action": "remove", "name": "old"}}, read()),
])
def test_an_effect_already_in_the_repository_is_already_done(spec: dict[str, Any], s0: Stratum0View) -> None:
    action = decisions.decide(observed(operation(**spec), lock=ME, stratum0=s0))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Succeeded", "AlreadyDone")
    assert action.status["revisionAfter"] == s0.revision


def test_success_records_on_the_operation_and_the_repository() -> None:
    op = operation(Phase.RUNNING)
    op["status"].update({"attempts": 1, "startTime": text_ago(60)})
    # The reported head is checked against the repository first.
    assert decisions.decide(observed(op, lock=ME, pods=[ended(result())])) == ReadStratum0(purpose="verify")
    head = Stratum0View(revision=5, root_hash="r5")
    action = decisions.decide(observed(op, lock=ME, pods=[ended(result())], stratum0=head))
    assert isinstance(action, SetStatus)
    status: dict[str, Any] = dict(action.status)
    assert (status["phase"], status["reason"], status["revisionAfter"]) == ("Succeeded", "RolledBack", 5)
    assert status["duration"] == "1m0s"
    assert set(status["timeline"]) == {"queued", "podStartup", "publisher", "recording"}
    assert action.repository == {"revision": 5, "rootHash": "r5", "lastPublishTime": "2024-05-01T12:30:00Z",
                                 "reflogChecksum": "c5", "reflogRevision": 5}
    after = decisions.decide(apply(observed(op, lock=ME, pods=[ended(result())]), action))
    assert after == ReleaseLock()  # its pod has ended: the lock goes first, the pod after


def test_a_reported_head_the_repository_does_not_show_fails_the_operation_and_records_nothing() -> None:
    op = operation(Phase.RUNNING)
    op["status"].update({"attempts": 1, "startTime": text_ago(60)})
    elsewhere = Stratum0View(revision=4, root_hash="r4")  # the pod says 5 / r5
    action = decisions.decide(observed(op, lock=ME, pods=[ended(result())], stratum0=elsewhere))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Failed", "VerificationFailed")
    assert "revision 5 (root catalog r5)" in str(action.status["message"])
    assert "manifest shows revision 4 (root catalog r4)" in str(action.status["message"])
    assert action.repository is None  # the Repository keeps what it had
    other_root = Stratum0View(revision=5, root_hash="r5-other")
    action = decisions.decide(observed(op, lock=ME, pods=[ended(result())], stratum0=other_root))
    assert isinstance(action, SetStatus)
    assert action.status["reason"] == "VerificationFailed"


def test_an_unreadable_repository_keeps_the_operation_verifying() -> None:
    op = operation(Phase.RUNNING)
    op["status"].update({"attempts": 1, "startTime": text_ago(60)})
    unreadable = Stratum0View(error="connection refused")
    action = decisions.decide(observed(op, lock=ME, pods=[ended(result())], stratum0=unreadable))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Running", "Verifying")
    assert "connection refused" in str(action.status["message"])
    assert action.repository is None


def test_a_failed_check_is_not_retried_and_is_recorded_on_the_repository() -> None:
    op = operation(Phase.RUNNING, check={})
    op["status"].update({"attempts": 1})
    message = result("check", OperationErrorClass.CHECK_FAILED, revisionAfter=None, rootHash=None,
                     reflogChecksum=None, check={"passed": False, "findings": ["chunk missing"]})
    action = decisions.decide(observed(op, lock=ME, pods=[ended(message, phase="Failed")]))
    assert isinstance(action, SetStatus)
    status: dict[str, Any] = dict(action.status)
    assert (status["phase"], status["reason"]) == ("Failed", "CheckFailed")
    assert status["check"] == {"passed": False, "revision": 4, "problems": ["chunk missing"]}
    assert action.repository is not None
    assert action.repository["lastCheck"]["result"] == "Failed"


def test_a_busy_repository_is_retried_within_the_backoff_limit() -> None:
    op = operation(Phase.RUNNING, gc={})
    op["status"].update({"attempts": 1})
    repo = repository(settings={"garbageCollection": True})
    action = decisions.decide(observed(op, repo=repo, lock=ME,
                                       pods=[ended(result("gc", OperationErrorClass.BUSY), phase="Failed")]))
    assert isinstance(action, SetStatus)
    assert (action.status["phase"], action.status["reason"]) == ("Running", "Retrying")


def test_a_finished_operation_releases_the_lock_and_is_never_run_again() -> None:
    done = operation(Phase.SUCCEEDED)
    assert decisions.decide(observed(done, lock=ME)) == ReleaseLock()
    assert decisions.decide(observed(done)) == Done()


def test_maintenance_slots_and_resign() -> None:
    repo = repository(settings={"garbageCollection": True}, masterKeySecretRef={"name": "mk"},
                      maintenance={"gc": {"schedule": "0 * * * *"}, "check": {"schedule": "0 3 * * *"}})
    repo["metadata"]["creationTimestamp"] = "2024-05-01T00:00:00Z"
    expires = NOW + datetime.timedelta(days=3)
    due = maintenance.due(repo, whitelist_expires=expires, now=NOW, namespace="cvmfs-system")
    names = sorted(item["metadata"]["name"] for item in due)
    assert [name.split("-")[0] for name in names] == ["check", "gc", "resign"]
    assert due == maintenance.due(repo, whitelist_expires=expires, now=NOW, namespace="cvmfs-system")
    later = NOW.replace(minute=59)
    assert {m["metadata"]["name"] for m in maintenance.due(repo, whitelist_expires=None, now=later,
                                                           namespace="cvmfs-system")} < set(names)
    repo["metadata"]["creationTimestamp"] = "2024-05-01T12:10:00Z"  # made after the 12:00 gc slot
    kinds = {next(iter(m["spec"].keys() - {"repository"}))
             for m in maintenance.due(repo, whitelist_expires=None, now=NOW, namespace="ns")}
    assert kinds == set()  # 03:00 and 12:00 slots are older than the Repository


def test_creation_takes_the_lock_then_starts_mkfs_and_never_over_an_existing_repository() -> None:
    repo = repository(create={}, masterKeySecretRef={"name": "mk"})
    me = f"/{FQRN}/{repo['metadata']['uid']}"
    step = creation.decide(repo, manifest_present=False, pods=[], lock_holder=None, me=me)
    assert step is not None
    assert step.acquire_lock
    step = creation.decide(repo, manifest_present=False, pods=[], lock_holder=me, me=me)
    assert step is not None
    assert step.create_pod == 1
    refused = creation.decide(repo, manifest_present=True, pods=[], lock_holder=None, me=me)
    assert refused is not None
    assert refused.condition is not None
    assert refused.condition[:2] == ("False", "AlreadyExists")
    assert refused.create_pod is None
    made = creation.decide(repo, manifest_present=True, pods=[ended(result("create"))], lock_holder=me, me=me)
    assert made is not None
    assert made.condition is not None
    assert made.condition[:2] == ("True", "Created")
    assert made.release_lock
    assert made.repository == {"reflogChecksum": "c5", "reflogRevision": 5}
    assert creation.decide(repository(), manifest_present=False, pods=[], lock_holder=None, me=me) is None


def test_a_finished_operation_hands_the_lock_to_the_next_queued_member() -> None:
    later = QueueEntry(created="2024-05-01T12:05:00Z", namespace="team-b", name="publish", uid="u2")
    waiting = dataclasses.replace(later, name="pending", uid="u3", queued=False,
                                  created="2024-05-01T12:01:00Z")
    action = decisions.decide(observed(operation(Phase.SUCCEEDED), lock=ME, queue=[ME_ENTRY, waiting, later]))
    assert action == ReleaseLock("team-b/publish/u2")  # not the one still Pending on its Repository
