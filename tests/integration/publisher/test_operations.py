"""The repository-operation program (``cvmfs-operation``) run as a process, in a fresh pod root,
against the cvmfs_server double and moto: one test per kind, hostile input refused before
cvmfs_server runs, and the failures the operator must tell apart (exit code and errorClass)."""

from __future__ import annotations

import hashlib
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvmfs_operator.api.operation_contract import OperationExitCode
from tests.integration.publisher.harness import FQRN, Stratum0, eventually
from tests.integration.publisher.maintenance import (
    OperationRun,
    catalog_entries,
    chksum,
    cvmfs_server,
    days_left,
    finish_operation,
    fresh_pod,
    history,
    object_key,
    objects,
    operation_config,
    run_operation,
    start_operation,
    whitelist,
)


@pytest.fixture
def pods() -> Iterator[list[Stratum0]]:
    made: list[Stratum0] = []
    yield made
    for pod in made:
        shutil.rmtree(pod.root, ignore_errors=True)


def pod_for(repo: Stratum0, pods: list[Stratum0], master_key: bool = False) -> Stratum0:
    pod = fresh_pod(repo, master_key=master_key)
    pods.append(pod)
    return pod


def assert_failed(run: OperationRun, code: OperationExitCode, error_class: str) -> None:
    assert run.code == code, (run.result, run.stderr)
    assert run.result["errorClass"] == error_class
    assert run.result["outcome"] == "Failed"


# --- create -----------------------------------------------------------------------------------------
def test_create_writes_the_first_revision_with_the_master_key(repo: Stratum0, pods: list[Stratum0]) -> None:
    pod = pod_for(repo, pods, master_key=True)
    run = run_operation(pod, operation_config(pod, "create", {}))
    assert run.code == 0, (run.result, run.stderr)
    result = run.result
    assert (result["outcome"], result["revisionAfter"], result["errorClass"]) == ("Succeeded", 1, None)
    assert result["rootHash"] == repo.manifest()["C"]
    assert result["reflogChecksum"] == hashlib.sha1(repo.get(".cvmfsreflog")).hexdigest()
    assert result["whitelistExpiry"] == whitelist(repo).expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 29.9 < days_left(whitelist(repo)) <= 30
    assert pod.verbs()[0] == "mkfs"  # nothing mounted or configured before: mkfs does it all
    [mkfs] = [argv for argv in pod.calls() if argv[0] == "mkfs"]
    assert mkfs[1:3] == ["-u", f"S3,/var/spool/cvmfs/{FQRN}/tmp,{FQRN}@/etc/cvmfs/s3/{FQRN}.conf"]


def test_create_with_other_whitelist_days_resigns_after_mkfs(repo: Stratum0, pods: list[Stratum0]) -> None:
    pod = pod_for(repo, pods, master_key=True)
    run = run_operation(pod, operation_config(pod, "create", {"whitelistDays": 7}))
    assert run.code == 0, (run.result, run.stderr)
    assert [v for v in pod.verbs() if v in ("mkfs", "resign")] == ["mkfs", "resign"]
    assert 6.9 < days_left(whitelist(repo)) <= 7


def test_create_over_an_existing_repository_never_runs_mkfs(repo: Stratum0, pods: list[Stratum0]) -> None:
    repo.seed({"sw/a": b"a"}, revision=41)
    before = repo.get(".cvmfspublished"), repo.get(".cvmfswhitelist"), repo.get(".cvmfsreflog")
    pod = pod_for(repo, pods, master_key=True)
    run = run_operation(pod, operation_config(pod, "create", {}))
    assert_failed(run, OperationExitCode.ALREADY_EXISTS, "AlreadyExists")
    assert run.result["step"] == "inspect"
    assert pod.verbs() == []
    assert (repo.get(".cvmfspublished"), repo.get(".cvmfswhitelist"), repo.get(".cvmfsreflog")) == before


def test_create_without_the_master_key_is_invalid_input(repo: Stratum0, pods: list[Stratum0]) -> None:
    pod = pod_for(repo, pods)
    run = run_operation(pod, operation_config(pod, "create", {}))
    assert_failed(run, OperationExitCode.INVALID_INPUT, "InvalidInput")
    assert f"{FQRN}.masterkey" in run.result["message"]
    assert pod.verbs() == []


# --- rollback -----------------------------------------------------------------------------------------
def test_rollback_to_a_tag(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    run = run_operation(pod, operation_config(pod, "rollback", {"tag": "r4"}, reflogChecksum=chksum(repo)))
    assert run.code == 0, (run.result, run.stderr)
    assert (run.result["revisionBefore"], run.result["revisionAfter"]) == (5, 6)
    assert run.result["rootHash"] == repo.manifest()["C"]
    assert run.result["reflogChecksum"] == repo.manifest()["Y"]
    assert repo.published_tree()["sw/b"] == b"b1"
    assert pod.verbs() == ["mount", "rollback"]
    assert pod.calls()[1] == ["rollback", "-t", "r4", "-f", FQRN]
    assert not (pod.spool / "in_transaction.lock").exists()
    assert sorted(p.name for p in pod.host("/etc/cvmfs/keys").iterdir()) == [
        f"{FQRN}.crt", f"{FQRN}.key", f"{FQRN}.pub"]


def test_rollback_to_a_missing_tag_is_not_found(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    run = run_operation(pod, operation_config(pod, "rollback", {"tag": "nope"}))
    assert_failed(run, OperationExitCode.NOT_FOUND, "NotFound")
    assert "Target tag 'nope' does not exist" in run.result["message"]
    assert repo.manifest()["S"] == "5"
    assert "abort" not in pod.verbs()
    assert not (pod.spool / "in_transaction.lock").exists()


def test_a_cancelled_rollback_aborts_the_transaction_it_left_and_only_that(repo: Stratum0,
                                                                          pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    config = operation_config(pod, "rollback", {"tag": "r4"})
    process = start_operation(pod, config, CVMFS_DOUBLE_HANG="rollback")
    eventually(lambda: "rollback" in pod.verbs(), "the rollback to start")
    (pod.spool / "in_transaction.lock").touch()  # what the script's open_transaction leaves when killed
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    run = finish_operation(pod, process)
    assert run.result["outcome"] == "Cancelled"
    assert run.code == OperationExitCode.CANCELLED
    assert pod.verbs()[-1] == "abort"
    assert not (pod.spool / "in_transaction.lock").exists()


# --- tag ----------------------------------------------------------------------------------------------
def test_tag_add_move_and_remove(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    added = run_operation(pod, operation_config(pod, "tag", {"action": "add", "name": "stable",
                                                              "description": "the stable one"}))
    assert added.code == 0, (added.result, added.stderr)
    assert repo.tags()["stable"].description == "the stable one"
    assert added.result["revisionAfter"] == 5
    move = {"action": "move", "name": "stable", "revision": 4}
    moved = run_operation(pod, operation_config(pod, "tag", move))
    assert moved.code == 0, (moved.result, moved.stderr)
    assert repo.tags()["stable"].hash == repo.tags()["r4"].hash
    assert repo.tags()["stable"].description == "the stable one"  # MoveTag keeps it
    removed = run_operation(pod, operation_config(pod, "tag", {"action": "remove", "name": "stable"}))
    assert removed.code == 0, (removed.result, removed.stderr)
    assert "stable" not in repo.tags()
    assert [argv for argv in pod.calls() if argv[0] == "tag"] == [
        ["tag", "-a", "stable", "-m", "the stable one", FQRN],
        ["tag", "-a", "stable", "-h", repo.tags()["r4"].hash, FQRN],
        ["tag", "-r", "stable", "-f", FQRN]]


def test_tag_failures_are_classified(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    exists = run_operation(pod, operation_config(pod, "tag", {"action": "add", "name": "r4"}))
    assert_failed(exists, OperationExitCode.ALREADY_EXISTS, "AlreadyExists")
    missing = run_operation(pod, operation_config(pod, "tag", {"action": "remove", "name": "nope"}))
    assert_failed(missing, OperationExitCode.NOT_FOUND, "NotFound")
    untagged = {"action": "add", "name": "x", "revision": 2}
    no_revision = run_operation(pod, operation_config(pod, "tag", untagged))
    assert_failed(no_revision, OperationExitCode.NOT_FOUND, "NotFound")
    reserved = run_operation(pod, operation_config(pod, "tag", {"action": "remove", "name": "trunk"}))
    assert_failed(reserved, OperationExitCode.NOT_ALLOWED, "NotAllowed")
    assert not (pod.spool / "in_transaction.lock").exists()


HOSTILE = ["x $(touch {marker})", "x; touch {marker}", "x `touch {marker}`", 'x" ; touch {marker} ; "',
           "x' ; touch {marker} ; '", "x -h 0000"]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_tag_descriptions_are_refused_before_cvmfs_server_runs(
        repo: Stratum0, pods: list[Stratum0], tmp_path: Path, template: str) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    marker = tmp_path / "marker"
    config = operation_config(pod, "tag", {"action": "add", "name": "evil",
                                           "description": template.format(marker=marker)})
    run = run_operation(pod, config)
    assert_failed(run, OperationExitCode.INVALID_INPUT, "InvalidInput")
    assert "tag.description" in run.result["message"]
    assert pod.verbs() == []
    assert not marker.exists()
    assert "evil" not in repo.tags()


@pytest.mark.parametrize("name", ["r4;touch", "$(id)", "a b", "-h", "r4'"])
def test_hostile_tag_names_are_refused_for_every_kind(repo: Stratum0, pods: list[Stratum0],
                                                      name: str) -> None:
    pod = pod_for(repo, pods)
    for operation, parameters in (("rollback", {"tag": name}), ("check", {"tag": name}),
                                  ("tag", {"action": "remove", "name": name})):
        run = run_operation(pod, operation_config(pod, operation, parameters))
        assert_failed(run, OperationExitCode.INVALID_INPUT, "InvalidInput")
    assert pod.verbs() == []


# --- resign -------------------------------------------------------------------------------------------
def test_resign_needs_only_the_master_key_and_the_certificate(repo: Stratum0, pods: list[Stratum0]) -> None:
    repo.seed({"sw/a": b"a"}, whitelist_days=1)
    pod = pod_for(repo, pods, master_key=True)
    run = run_operation(pod, operation_config(pod, "resign", {"whitelistDays": 7}))
    assert run.code == 0, (run.result, run.stderr)
    assert 6.9 < days_left(whitelist(repo)) <= 7
    assert run.result["whitelistExpiry"] == whitelist(repo).expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert pod.verbs() == ["resign"]  # no mount: an expired whitelist must not stop a re-sign
    installed = sorted(p.name for p in pod.host("/etc/cvmfs/keys").iterdir())
    assert installed == [f"{FQRN}.crt", f"{FQRN}.masterkey"]
    assert "MIImasterkeymaterial" not in run.stderr + str(run.result)


# --- gc -----------------------------------------------------------------------------------------------
def test_gc_without_garbage_collection_is_not_allowed(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    run = run_operation(pod, operation_config(pod, "gc", {"keepRevisions": 0}, reflogChecksum=chksum(repo)))
    assert_failed(run, OperationExitCode.NOT_ALLOWED, "NotAllowed")
    assert pod.verbs() == []


def test_gc_refused_by_the_manifest_is_not_allowed(repo: Stratum0, pods: list[Stratum0]) -> None:
    repo.seed({"sw/a": b"a"})  # manifest G no
    pod = pod_for(repo, pods)
    config = operation_config(pod, "gc", {"keepRevisions": 0}, reflogChecksum=repo.manifest()["Y"])
    config["settings"]["garbageCollection"] = True
    run = run_operation(pod, config)
    assert_failed(run, OperationExitCode.NOT_ALLOWED, "NotAllowed")
    assert "repository does not allow garbage collection" in run.result["message"]
    assert not (pod.spool / "in_transaction.lock").exists()


def test_gc_deletes_and_reports_the_new_reflog_checksum(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo, gc=True)
    cvmfs_server(repo, "tag", "-r", "r4", "-f", FQRN)
    pod = pod_for(repo, pods)
    config = operation_config(pod, "gc", {"keepRevisions": 0, "dryRun": True}, reflogChecksum=chksum(repo))
    config["settings"]["garbageCollection"] = True
    before = objects(repo)
    dry = run_operation(pod, config)
    assert dry.code == 0, (dry.result, dry.stderr)
    assert dry.result["gc"]["dryRun"] is True
    assert dry.result["gc"]["objectsDeleted"] > 0
    assert objects(repo) == before
    config["gc"] = {"keepRevisions": 0}
    done = run_operation(pod, config)
    assert done.code == 0, (done.result, done.stderr)
    assert done.result["gc"] == {"dryRun": False, "objectsDeleted": dry.result["gc"]["objectsDeleted"]}
    assert len(before - objects(repo)) == done.result["gc"]["objectsDeleted"]
    assert done.result["reflogChecksum"] == hashlib.sha1(repo.get(".cvmfsreflog")).hexdigest()
    assert done.result["reflogChecksum"] != repo.manifest()["Y"]  # the next publisher needs it
    [gc] = [argv for argv in pod.calls() if argv[0] == "gc" and "-d" not in argv]
    assert gc[:4] == ["gc", "-f", "-r", "0"]


def test_gc_keep_since_is_passed_as_a_unix_time(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo, gc=True)
    pod = pod_for(repo, pods)
    config = operation_config(pod, "gc", {"keepSince": "2026-01-01T00:00:00Z", "dryRun": True},
                              reflogChecksum=chksum(repo))
    config["settings"]["garbageCollection"] = True
    run = run_operation(pod, config)
    assert run.code == 0, (run.result, run.stderr)
    assert [a for a in pod.calls()[-1] if a in ("-t", "@1767225600")] == ["-t", "@1767225600"]


# --- check --------------------------------------------------------------------------------------------
def test_check_passes_then_fails_on_a_corrupted_bucket(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    healthy = run_operation(pod, operation_config(pod, "check", {}, reflogChecksum=chksum(repo)))
    assert healthy.code == 0, (healthy.result, healthy.stderr)
    assert healthy.result["check"] == {"passed": True, "findings": []}
    assert sorted(p.name for p in pod.host("/etc/cvmfs/keys").iterdir()) == [f"{FQRN}.pub"]
    digest = catalog_entries(repo, repo.manifest()["C"])["entries"]["sw/c"]["hash"]
    repo.s3.client().delete_object(Bucket=repo.bucket, Key=f"{repo.prefix}/data/{object_key(digest)}")
    broken = run_operation(pod, operation_config(pod, "check", {}, reflogChecksum=chksum(repo)))
    assert_failed(broken, OperationExitCode.CHECK_FAILED, "CheckFailed")
    assert broken.result["check"]["passed"] is False
    assert f"data chunk {digest} (/sw/c) missing" in broken.result["check"]["findings"]
    no_chunks = operation_config(pod, "check", {"chunks": False}, reflogChecksum=chksum(repo))
    skipped = run_operation(pod, no_chunks)
    assert skipped.code == 0, skipped.result


def test_check_of_a_missing_tag_is_not_found(repo: Stratum0, pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    run = run_operation(pod, operation_config(pod, "check", {"tag": "nope"}, reflogChecksum=chksum(repo)))
    assert_failed(run, OperationExitCode.NOT_FOUND, "NotFound")


def test_an_invalid_config_still_leaves_a_result(repo: Stratum0, pods: list[Stratum0]) -> None:
    pod = pod_for(repo, pods)
    run = run_operation(pod, "{not json")
    assert_failed(run, OperationExitCode.INVALID_INPUT, "InvalidInput")
    unknown = run_operation(pod, operation_config(pod, "format"))
    assert_failed(unknown, OperationExitCode.INVALID_INPUT, "InvalidInput")


def test_check_works_through_a_gateway_and_the_other_kinds_do_not(repo: Stratum0,
                                                                  pods: list[Stratum0]) -> None:
    history(repo)
    pod = pod_for(repo, pods)
    config = operation_config(pod, "check", {}, reflogChecksum=chksum(repo))
    del config["s3"]
    config["gateway"] = {"url": "http://gw.example:4929/api/v1"}
    run = run_operation(pod, config)
    assert run.code == 0, (run.result, run.stderr)
    rollback = {**config, "operation": "rollback", "rollback": {"tag": "r4"}}
    del rollback["check"]
    refused = run_operation(pod, rollback)
    assert_failed(refused, OperationExitCode.INVALID_INPUT, "InvalidInput")
    assert "gateway" in refused.result["message"]
