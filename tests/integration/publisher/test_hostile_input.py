"""Hostile input never reaches cvmfs_server's shell: refused before anything runs, or recorded literally.

The `cvmfs_server` double builds the same command strings as the real script and runs them with
`sh -c` (see tests/support), so a value that slipped through would run its command here exactly as
it would as root in a real pod: the marker file would appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import FQRN, Stratum0

S3_CONF = f"/etc/cvmfs/s3/{FQRN}.conf"
SUFFIX = " - Transaction team/release-1 uid 0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10"
REMOVE = {"remove": {"paths": ["old"]}}


def _marker(repo: Stratum0) -> Path:
    return repo.root / "marker"


def hostile_descriptions(marker: str) -> dict[str, str]:
    return {
        "example with parentheses": "Release 1.2.0 (LTS), see notes",
        "double quotes": f'say "hi"; touch {marker}',
        "single quotes": f"it's'; touch {marker}; '",
        "command substitution": f"$(touch {marker})",
        "backticks": f"`touch {marker}`",
        "semicolon and comment": f"notes; touch {marker} #",
        "and-and": f"a && touch {marker}",
        "pipe": f"a | touch {marker}",
        "comment": "release # the rest is gone",
        "newline": f"release\ntouch {marker}",
        "tab": "release\t1",
        "leading dash": "-d",
        "dash word": "release -Y external",
        "double dash": "release -- done",
        "non-ASCII": "Müller release",
        "glob": "release *",
    }


@pytest.mark.parametrize("case", list(hostile_descriptions("M")))
def test_a_hostile_description_is_refused_before_anything_runs(repo: Stratum0, case: str) -> None:
    repo.seed({"sw/old": b"x"})
    description = hostile_descriptions(str(_marker(repo)))[case] + SUFFIX

    run = repo.run(repo.config(REMOVE, tagDescription=description))

    assert run.code == ExitCode.INVALID_INPUT
    assert run.result["step"] == "configure"
    assert run.result["message"].startswith("tagDescription ")
    assert repo.calls() == []  # cvmfs_server never ran
    assert not _marker(repo).exists()
    assert repo.manifest()["S"] == "3"


@pytest.mark.parametrize("text", [
    "Software release 1.2.0",  # examples/transaction-1-tarball.yaml
    "/releases/latest points to 1.2.0",  # examples/transaction-2-script.yaml
    "fix: a - b, c=d @site /cvmfs 50% +1",
    "two  spaces and_under.score",
    "-",
])
def test_an_admitted_description_is_recorded_literally(repo: Stratum0, text: str) -> None:
    repo.seed({"sw/old": b"x"})

    run = repo.run(repo.config(REMOVE, tagDescription=text + SUFFIX))

    assert run.code == ExitCode.SUCCEEDED, run.stderr
    assert repo.tags()["team-release-1"].description == text + SUFFIX


def hostile_paths(marker: str) -> list[str]:
    return [f"/sw/$(touch {marker})", "/sw/a b;c|d&e", f"/sw/`touch {marker}`", "/sw/it's (x) #y *"]


@pytest.mark.parametrize("index", range(4))
def test_a_hostile_path_is_published_literally_without_a_gateway(repo: Stratum0, index: int) -> None:
    """Without a gateway the path only meets the publisher's own file operations, never a shell."""
    repo.seed()
    path = hostile_paths(str(_marker(repo)))[index]

    run = repo.run(repo.config({"script": {"source": "printf hi > f"}}, path=path, allowScripts=True))

    assert run.code == ExitCode.SUCCEEDED, run.stderr
    assert repo.published_tree()[f"{path.lstrip('/')}/f"] == b"hi"
    assert not _marker(repo).exists()


@pytest.mark.parametrize("index", range(4))
def test_a_hostile_gateway_lease_path_is_refused(repo: Stratum0, index: int) -> None:
    """With a gateway the path becomes `transaction <fqrn>/<path>`, which the script splits and globs."""
    repo.seed()
    repo.mount_secrets(gateway=True)
    config = repo.config(REMOVE, path=hostile_paths(str(_marker(repo)))[index],
                         gateway={"url": "http://gateway.example.org:4929/api/v1"})
    del config["s3"]

    run = repo.run(config)

    assert run.code == ExitCode.INVALID_INPUT
    assert "gateway lease path" in run.result["message"]
    assert repo.calls() == []
    assert not _marker(repo).exists()


def test_an_s3_secret_the_config_parser_would_change_is_refused_without_showing_it(repo: Stratum0) -> None:
    repo.seed({"sw/old": b"x"})
    secret = repo.host("/run/cvmfs/s3/secretAccessKey")
    secret.chmod(0o600)
    secret.write_text("secret with spaces\n")

    run = repo.run(repo.config(REMOVE))

    assert run.code == ExitCode.INVALID_INPUT
    assert "secretAccessKey" in run.result["message"]
    assert "secret with spaces" not in run.stderr + run.result["message"] + "\n".join(run.result["logTail"])
    assert repo.calls() == []


def test_an_s3_secret_with_shell_syntax_is_quoted_and_runs_nothing(repo: Stratum0) -> None:
    """cvmfs feeds s3.conf to /bin/sh: a quote or `$(…)` in a key must stay part of the key."""
    repo.seed({"sw/old": b"x"})
    secret = repo.host("/run/cvmfs/s3/secretAccessKey")
    secret.chmod(0o600)
    secret.write_text(f"k'$(touch${{IFS}}{_marker(repo)})'\"`id`;#\n")  # no whitespace: allowed

    run = repo.run(repo.config(REMOVE))

    assert run.code == ExitCode.SUCCEEDED, run.stderr
    assert not _marker(repo).exists()
    assert "touch" not in run.stderr  # the secret itself is redacted from the log
    conf = repo.host(S3_CONF).read_text()
    assert "CVMFS_S3_SECRET_KEY='k'\\''$(touch${IFS}" in conf
