"""The cvmfs_server double evaluates its input exactly as cvmfs_server 2.12 does.

Each test calls the double as a process, as the publisher does, and asserts what the REAL tool
does with the same input (cvmfs_server_publish.sh, cvmfs_server_common.sh, swissknife_main.cc,
options.cc; see tests/support/cvmfs_server_double.py) — including running what it would run, proven
with marker files. A double that stored text literally, parsed ``key=value`` by hand or quoted
what cvmfs splices unquoted would fail here. Where dash (Debian's /bin/sh) and bash (the AlmaLinux
publisher image's /bin/sh) could differ, the tests run with both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.publisher.harness import BIN, FQRN, Stratum0

SHELLS = [pytest.param(name, id=name, marks=pytest.mark.skipif(shutil.which(name) is None,
                                                                reason=f"{name} is not installed"))
          for name in ("dash", "bash")]


def attach(repo: Stratum0, gateway: bool = False) -> None:
    """The publisher writes the attachment files and mounts; stopped before its own transaction."""
    repo.seed({"sw/a": b"a"})
    config = repo.config({"remove": {"paths": ["x"]}})
    if gateway:
        repo.mount_secrets(gateway=True)
        config["gateway"] = {"url": "http://gw.example:4929/api/v1"}
        del config["s3"]
    repo.run(config, CVMFS_DOUBLE_FAIL="transaction")
    assert repo.verbs() == ["mount", "transaction"], repo.calls()
    assert (repo.union / "sw" / "a").read_bytes() == b"a"


def cvmfs_server(repo: Stratum0, *argv: str, shell: str = "dash",
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = repo.env("{}", CVMFS_DOUBLE_SHELL=shutil.which(shell) or shell)
    return subprocess.run([str(BIN / "cvmfs_server"), *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def publish(repo: Stratum0, description: str, tag: str = "t1",
            shell: str = "dash") -> subprocess.CompletedProcess[str]:
    """``transaction``, a new file, then ``publish -f -a TAG -m DESCRIPTION`` (the publisher's call)."""
    opened = cvmfs_server(repo, "transaction", FQRN, shell=shell)
    assert opened.returncode == 0, opened.stderr
    (repo.union / "sw" / "new").write_bytes(b"new")
    return cvmfs_server(repo, "publish", "-f", "-a", tag, "-m", description, FQRN, shell=shell)


def swissknife(repo: Stratum0, command: str) -> list[dict[str, Any]]:
    """What the cvmfs_swissknife stand-in received, per call of ``command``."""
    events = [json.loads(line) for line in (repo.root / "cvmfs_server_double.log").read_text().splitlines()]
    return [e for e in events if e["event"] == "swissknife" and e.get("command") == command]


def assert_not_published(repo: Stratum0) -> None:
    assert int(repo.manifest()["S"]) == 3
    assert "t1" not in repo.tags()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_parenthesis_in_the_description_is_a_shell_syntax_error(repo: Stratum0, shell: str) -> None:
    attach(repo)
    done = publish(repo, "release (1)", shell=shell)
    assert done.returncode == 1
    syntax_error = {"dash": 'sh: 1: Syntax error: "(" unexpected',
                    "bash": "syntax error near unexpected token `('"}[shell]
    assert syntax_error in done.stderr
    assert "Synchronization failed" in done.stderr
    assert swissknife(repo, "sync") == []  # the shell never started it
    assert_not_published(repo)
    assert (repo.spool / "in_transaction.lock").exists()  # publish_failed leaves the transaction open


@pytest.mark.parametrize("shell", SHELLS)
def test_a_command_in_the_description_runs_and_the_publish_succeeds(repo: Stratum0, tmp_path: Path,
                                                                    shell: str) -> None:
    attach(repo)
    marker = tmp_path / "marker"
    description = f"notes; echo ran >> {marker} #"
    done = publish(repo, description, shell=shell)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran\n"  # once: run by the sync string, literal in tag_edit's quotes
    assert repo.tags()["t1"].description == description
    assert int(repo.manifest()["S"]) == 4
    [sync] = swissknife(repo, "sync")
    assert sync["options"]["J"] == "notes"
    # `#` commented out the rest of the sync command: no union type, no chunking, no -i
    assert not {"f", "p", "l", "a", "h", "i"} & sync["options"].keys()


def test_plain_spaces_are_stored_whole_but_sync_gets_the_first_word(repo: Stratum0) -> None:
    attach(repo)
    description = "Published by  Transaction ns/name uid-1"
    done = publish(repo, description)
    assert done.returncode == 0, done.stderr
    assert repo.tags()["t1"].description == description
    [tag_edit] = swissknife(repo, "tag_edit")
    assert tag_edit["options"]["a"] == "t1"
    assert tag_edit["options"]["D"] == description
    [sync] = swissknife(repo, "sync")
    assert sync["options"]["J"] == "Published"
    assert sync["skipped"] == ["by", "Transaction", "ns/name", "uid-1"]


@pytest.mark.parametrize(("word", "published"), [("-x", True), ("-9", False)])
def test_description_words_starting_with_a_dash_are_swissknife_options(repo: Stratum0, word: str,
                                                                       published: bool) -> None:
    attach(repo)
    done = publish(repo, f"note {word}")
    [sync] = swissknife(repo, "sync")
    if published:  # -x is sync's "print change set" switch
        assert done.returncode == 0, done.stderr
        assert sync["options"]["x"] is True
        assert repo.tags()["t1"].description == f"note {word}"
    else:  # -9 is no option of sync: usage, exit 1
        assert done.returncode == 1
        assert sync["code"] == 1
        assert "invalid option -- '9'" in done.stderr
        assert "Synchronization failed" in done.stderr
        assert_not_published(repo)


@pytest.mark.parametrize("tag", ["bad name", "bad\tname", "-n"])
def test_a_tag_name_that_echo_shows_with_a_space_or_empty_is_refused(repo: Stratum0, tag: str) -> None:
    attach(repo)
    done = publish(repo, "release 1", tag=tag)
    assert done.returncode == 1
    assert "Spaces are not allowed in tag names" in done.stderr
    assert swissknife(repo, "sync") == []
    assert_not_published(repo)


@pytest.mark.parametrize("shell", SHELLS)
def test_command_substitution_runs_in_the_sync_and_inside_tag_edits_double_quotes(
        repo: Stratum0, tmp_path: Path, shell: str) -> None:
    attach(repo)
    marker = tmp_path / "marker"
    done = publish(repo, f"v$(echo ran >> {marker})", shell=shell)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran\nran\n"  # unquoted in sync, in double quotes in tag_edit
    assert repo.tags()["t1"].description == "v"


@pytest.mark.parametrize("shell", SHELLS)
def test_server_conf_is_sourced_and_its_values_evaluated_again_in_the_commands(
        repo: Stratum0, tmp_path: Path, shell: str) -> None:
    attach(repo)
    marker = tmp_path / "marker"
    with (repo.host(f"/etc/cvmfs/repositories.d/{FQRN}/server.conf")).open("a") as conf:
        conf.write(f"CVMFS_NUM_UPLOAD_TASKS=$(echo sourced >> {marker}; echo 2)\n")  # run when sourced
        conf.write(f"CVMFS_REPOSITORY_TTL='240$(echo spliced >> {marker})'\n")  # literal until `sh -c`
    done = publish(repo, "release 1", shell=shell)
    assert done.returncode == 0, done.stderr
    [sync] = swissknife(repo, "sync")
    assert sync["options"]["0"] == "2"
    assert sync["options"]["T"] == "240"
    ran = marker.read_text().splitlines()
    assert "sourced" in ran
    assert ran.count("spliced") == 1  # only the sync command string holds CVMFS_REPOSITORY_TTL


@pytest.mark.parametrize("shell", SHELLS)
def test_the_s3_config_is_read_back_with_echo(repo: Stratum0, tmp_path: Path, shell: str) -> None:
    """BashOptionsManager: every line to /bin/sh, then ``echo $PARAM`` (dash's echo reads ``\\0ooo``)."""
    attach(repo)
    marker = tmp_path / "marker"
    with repo.host(f"/etc/cvmfs/s3/{FQRN}.conf").open("a") as conf:
        conf.write(f"CVMFS_S3_FLAVOR=$(echo s3 >> {marker})'  awsv4  '\n")
        conf.write("CVMFS_S3_X_AMZ_ACL='\\0160ublic-read'\n")
    done = publish(repo, "release 1", shell=shell)
    assert "s3" in marker.read_text().splitlines()
    if shell == "dash":  # echo turns \0160 into "p": "public-read", an allowed ACL
        assert done.returncode == 0, done.stderr
        assert int(repo.manifest()["S"]) == 4
    else:  # bash's echo keeps the backslash: refused by the S3 uploader
        assert done.returncode == 1
        assert "\\0160ublic-read is not an allowed value for CVMFS_S3_X_AMZ_ACL" in done.stderr
        assert "Synchronization failed" in done.stderr
        assert_not_published(repo)


def test_transaction_and_abort_split_and_glob_their_arguments(repo: Stratum0, tmp_path: Path) -> None:
    attach(repo)
    split = cvmfs_server(repo, "transaction", f"{FQRN} -x")
    assert split.returncode == 1  # one argument became two words; cvmfs_publish rejects the option
    assert "Invocation error: transaction: unrecognized parameter '-x'" in split.stderr
    assert cvmfs_server(repo, "transaction", FQRN).returncode == 0
    empty, named = tmp_path / "empty", tmp_path / "named"
    empty.mkdir()
    named.mkdir()
    (named / FQRN).touch()
    unmatched = cvmfs_server(repo, "abort", "-f", "*", cwd=empty)
    assert unmatched.returncode == 1
    assert "configuration file `server.conf` for the cvmfs publisher: *" in unmatched.stderr
    assert (repo.spool / "in_transaction.lock").exists()
    globbed = cvmfs_server(repo, "abort", "-f", "*", cwd=named)  # `*` is the file named like the repository
    assert globbed.returncode == 0, globbed.stderr
    assert not (repo.spool / "in_transaction.lock").exists()


def test_with_a_gateway_only_syncs_d_and_j_carry_the_tag(repo: Stratum0) -> None:
    attach(repo, gateway=True)
    opened = cvmfs_server(repo, "transaction", f"{FQRN}/sw")
    assert opened.returncode == 0, opened.stderr
    done = cvmfs_server(repo, "publish", "-f", "-a", "t1", "-m", "release 1", FQRN)
    assert done.returncode == 1  # the double does not emulate the gateway commit
    [sync] = swissknife(repo, "sync")
    assert sync["options"]["D"] == "t1"
    assert sync["options"]["J"] == "release"  # the gateway gets the first word only
    assert sync["options"]["P"] == f"/var/spool/cvmfs/{FQRN}/session_token"
    assert "does not emulate a gateway commit" in done.stderr
    assert swissknife(repo, "tag_edit") == []
