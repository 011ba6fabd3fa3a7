"""Failures at every step: the result names the step, the exit code is the contract's, and no
transaction stays open (``abort -f`` was called whenever one had been opened)."""

from __future__ import annotations

import signal

import pytest

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import Stratum0, eventually


def assert_nothing_published(repo: Stratum0) -> None:
    assert int(repo.manifest()["S"]) == 3
    assert "team-release-1" not in repo.tags()
    assert not (repo.spool / "in_transaction.lock").exists()


@pytest.mark.parametrize(("verb", "code", "error_class", "aborted"), [
    ("mount", ExitCode.ATTACH_FAILED, "AttachFailed", False),
    ("transaction", ExitCode.ATTACH_FAILED, "AttachFailed", False),
    ("publish", ExitCode.PUBLISH_FAILED, "PublishFailed", True),
])
def test_a_failing_cvmfs_server_step(repo: Stratum0, verb: str, code: ExitCode, error_class: str,
                                     aborted: bool) -> None:
    repo.seed({"sw/a": b"a"})
    run = repo.run(repo.config({"remove": {"paths": ["a"]}}), CVMFS_DOUBLE_FAIL=verb)
    assert run.code == code
    assert run.result["outcome"] == "Failed"
    assert run.result["errorClass"] == error_class
    assert run.result["step"] == verb
    assert f"cvmfs_server {verb} failed" in run.result["message"]
    assert ("abort" in repo.verbs()) is aborted
    assert_nothing_published(repo)
    if aborted:  # the union shows the published tree again
        assert (repo.union / "sw" / "a").read_bytes() == b"a"


def test_a_failing_payload_is_aborted(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"})
    run = repo.run(repo.config({"script": {"source": "rm a\nexit 3"}}, allowScripts=True))
    assert run.code == ExitCode.PAYLOAD_FAILED
    assert run.result["step"] == "payload"
    assert "exit code 3" in run.result["message"]
    assert repo.verbs() == ["mount", "transaction", "abort"]
    assert_nothing_published(repo)
    assert (repo.union / "sw" / "a").exists()


def test_when_abort_fails_too_the_result_says_so(repo: Stratum0) -> None:
    repo.seed()
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}), CVMFS_DOUBLE_FAIL="publish,abort")
    assert run.code == ExitCode.PUBLISH_FAILED
    assert run.result["step"] == "publish"
    assert "abort -f failed as well" in run.result["message"]


def test_an_open_transaction_of_someone_else_is_busy_and_left_alone(repo: Stratum0) -> None:
    repo.seed()
    repo.spool.mkdir(parents=True)
    (repo.spool / "in_transaction.lock").touch()
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}))
    assert run.code == ExitCode.BUSY
    assert run.result["errorClass"] == "Busy"
    assert "abort" not in repo.verbs()
    assert (repo.spool / "in_transaction.lock").exists()


def test_a_stale_reflog_checksum_is_a_signing_refusal_of_its_own_class(repo: Stratum0) -> None:
    repo.seed()
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}, reflogChecksum="0" * 40))
    assert run.code == ExitCode.REFLOG_MISMATCH
    assert run.result["errorClass"] == "ReflogMismatch"
    assert run.result["step"] == "publish"
    assert "data corruption in .cvmfsreflog" in "\n".join(run.result["logTail"])
    assert "abort" in repo.verbs()
    assert_nothing_published(repo)


def test_an_expired_whitelist_stops_the_transaction(repo: Stratum0) -> None:
    repo.seed(whitelist_days=-1)
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}))
    assert run.code == ExitCode.ATTACH_FAILED
    assert run.result["step"] == "transaction"
    assert "exit code 5" in run.result["message"]
    assert_nothing_published(repo)


def test_sigterm_during_the_payload_cancels_and_aborts(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"})
    script = "touch started\nrm a\nsleep 60\n"
    process = repo.start(repo.config({"script": {"source": script}}, allowScripts=True))
    eventually(lambda: (repo.union / "sw" / "started").exists(), "the script to start")
    process.send_signal(signal.SIGTERM)
    run = repo.finish(process)
    assert run.code == ExitCode.CANCELLED
    assert run.result["outcome"] == "Cancelled"
    assert run.result["errorClass"] == "Cancelled"
    assert run.result["step"] == "payload"
    assert repo.verbs()[-1] == "abort"
    assert_nothing_published(repo)
    assert not (repo.union / "sw" / "started").exists()
    assert (repo.union / "sw" / "a").exists()


def test_sigterm_while_publish_hangs_cancels_and_aborts(repo: Stratum0) -> None:
    repo.seed()
    process = repo.start(repo.config({"remove": {"paths": ["x"]}}), CVMFS_DOUBLE_HANG="publish")
    eventually(lambda: "publish" in repo.verbs(), "publish to start")
    process.send_signal(signal.SIGTERM)
    run = repo.finish(process)
    assert run.code == ExitCode.CANCELLED
    assert run.result["step"] == "publish"
    assert repo.verbs()[-1] == "abort"
    assert_nothing_published(repo)


def test_an_oversized_log_still_fits_the_termination_message(repo: Stratum0) -> None:
    repo.seed()
    script = 'for i in $(seq 1 300); do printf "line %03d %0200d\\n" "$i" 0; done\nexit 1\n'
    run = repo.run(repo.config({"script": {"source": script}}, allowScripts=True))  # finish() checks < 4 KiB
    assert run.code == ExitCode.PAYLOAD_FAILED
    assert run.result["step"] == "payload"
    assert 0 < len(run.result["logTail"]) <= 40
    assert "line 300" in "\n".join(run.result["logTail"]) or run.result["logTail"][-1].startswith("ERROR")
