"""Bad inputs, hostile tarballs, secrets and gateway mode."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import FQRN, GATEWAY_SECRET, PRIVATE_KEY_LINE, Stratum0
from tests.integration.publisher.test_payloads import Served, make_tar
from tests.support.s3 import ACCESS_KEY, SECRET_KEY


@pytest.fixture
def http() -> Iterator[Served]:
    served = Served()
    yield served
    served.close()


def assert_untouched(repo: Stratum0) -> None:
    assert int(repo.manifest()["S"]) == 3
    assert "transaction" not in repo.verbs()
    assert not (repo.spool / "in_transaction.lock").exists()


@pytest.mark.parametrize(("tarball", "reason"), [
    ({"/etc/evil": b"x"}, "absolute path"),
    ({"ok": b"fine", "../evil": b"x"}, "contains '..'"),
    ({"sub/../../evil": b"x"}, "contains '..'"),
    ({"link": ("symlink", "../../../../etc"), "link/evil": b"x"}, "points outside"),
    ({"abs": ("symlink", "/etc/passwd")}, "absolute path"),
    ({"hard": ("hardlink", "../../outside")}, "points outside"),
])
def test_a_hostile_tarball_is_refused_before_anything_is_written(
        repo: Stratum0, http: Served, tarball: dict[str, bytes | tuple[str, str]], reason: str) -> None:
    repo.seed({"sw/a": b"a"})
    http.files["/t.tar.gz"] = make_tar(tarball)
    run = repo.run(repo.config({"tarball": {"url": http.url("/t.tar.gz")}}))
    assert run.code == ExitCode.PAYLOAD_FAILED
    assert run.result["step"] == "fetch"
    assert reason in run.result["message"]
    assert_untouched(repo)
    assert sorted(p.name for p in (repo.union / "sw").iterdir()) == ["a"]
    assert not (repo.root / "evil").exists()
    assert not (repo.host("/cvmfs") / "evil").exists()


def test_missing_keys_are_invalid_input(repo: Stratum0) -> None:
    repo.seed()
    os.unlink(repo.host(f"/run/cvmfs/keys/{FQRN}.key"))
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}))
    assert run.code == ExitCode.INVALID_INPUT
    assert run.result["step"] == "configure"
    assert f"{FQRN}.key is missing" in run.result["message"]
    assert repo.verbs() == []


def test_missing_s3_credentials_are_invalid_input(repo: Stratum0) -> None:
    repo.seed()
    os.unlink(repo.host("/run/cvmfs/s3/secretAccessKey"))
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}))
    assert run.code == ExitCode.INVALID_INPUT
    assert "S3 secret key is missing" in run.result["message"]
    assert repo.verbs() == []


@pytest.mark.parametrize(("config_change", "expected"), [
    ({"payload": {"helm": {"chart": "x"}}}, "unknown payload kind 'helm'"),
    ({"payload": {"remove": {"paths": ["../other"]}}}, "leaves the transaction path"),
    ({"payload": {"remove": {"paths": ["/sw/a"]}}}, "must be relative"),
    ({"path": "/sw/../etc"}, "must not contain '..'"),
    ({"payload": {"tarball": {"url": "ftp://x/y.tar"}}}, "http(s):// or s3://"),
])
def test_bad_configuration_is_invalid_input(repo: Stratum0, config_change: dict[str, object],
                                            expected: str) -> None:
    repo.seed()
    config = repo.config({"remove": {"paths": ["x"]}})
    config.update(config_change)
    run = repo.run(config)
    assert run.code == ExitCode.INVALID_INPUT
    assert expected in run.result["message"]
    assert repo.verbs() == []


def test_a_config_that_is_not_json_is_invalid_input(repo: Stratum0) -> None:
    run = repo.run("{not json")
    assert run.code == ExitCode.INVALID_INPUT
    assert run.result["errorClass"] == "InvalidInput"
    assert run.result["step"] == "configure"


def test_an_unreachable_tarball_fails_the_fetch(repo: Stratum0, http: Served) -> None:
    repo.seed()
    url = http.url("/t.tar")
    http.close()
    run = repo.run(repo.config({"tarball": {"url": url}}))
    assert run.code == ExitCode.PAYLOAD_FETCH_FAILED
    assert run.result["step"] == "fetch"
    assert "unreachable" in run.result["message"]
    assert_untouched(repo)


def test_http_403_and_s3_404_fail_the_fetch(repo: Stratum0, http: Served) -> None:
    repo.seed()
    run = repo.run(repo.config({"tarball": {"url": http.url("/missing.tar")}}))
    assert run.code == ExitCode.PAYLOAD_FETCH_FAILED
    assert "HTTP 404" in run.result["message"]
    http.statuses["/private.tar"] = 403
    run = repo.run(repo.config({"tarball": {"url": http.url("/private.tar")}}))
    assert run.code == ExitCode.PAYLOAD_FETCH_FAILED
    assert "HTTP 403" in run.result["message"]
    run = repo.run(repo.config({"tarball": {"url": f"s3://{repo.bucket}/no/such.tar"}}))
    assert run.code == ExitCode.PAYLOAD_FETCH_FAILED
    assert "HTTP 404 NoSuchKey" in run.result["message"]
    assert_untouched(repo)


def test_no_secret_value_reaches_output_or_result(repo: Stratum0) -> None:
    """Even when a script prints a secret, logs and result show it redacted."""
    repo.seed()
    script = f'echo "leak {SECRET_KEY} {ACCESS_KEY} {PRIVATE_KEY_LINE}"\nexit 2\n'
    runs = [repo.run(repo.config({"script": {"source": script}}, allowScripts=True)),
            repo.run(repo.config({"remove": {"paths": ["x"]}}, reflogChecksum="bad"))]
    for run in runs:
        assert run.code != ExitCode.SUCCEEDED
        everything = run.stdout + run.stderr + str(run.result)
        for secret in (SECRET_KEY, ACCESS_KEY, PRIVATE_KEY_LINE):
            assert secret not in everything
    assert "leak ***" in str(runs[0].result["logTail"])


def test_attachment_files_are_rendered_for_cvmfs(repo: Stratum0) -> None:
    repo.seed()
    run = repo.run(repo.config({"remove": {"paths": ["x"]}}))
    assert run.code == ExitCode.SUCCEEDED
    server = repo.host(f"/etc/cvmfs/repositories.d/{FQRN}/server.conf").read_text()
    s3conf = f"/etc/cvmfs/s3/{FQRN}.conf"
    assert f"CVMFS_UPSTREAM_STORAGE=S3,/var/spool/cvmfs/{FQRN}/tmp,{FQRN}@{s3conf}\n" in server
    assert "CVMFS_FORCE_REMOUNT_WARNING=false\n" in server
    assert os.stat(repo.host(s3conf)).st_mode & 0o777 == 0o600
    assert "CVMFS_S3_DNS_BUCKETS=false\n" in repo.host(s3conf).read_text()
    modes = {suffix: os.stat(repo.host(f"/etc/cvmfs/keys/{FQRN}{suffix}")).st_mode & 0o777
             for suffix in (".crt", ".pub", ".key")}
    assert modes == {".crt": 0o444, ".pub": 0o444, ".key": 0o400}
    assert not repo.host(f"/etc/cvmfs/keys/{FQRN}.masterkey").exists()


def test_gateway_mode_takes_a_lease_and_reports_its_token(repo: Stratum0) -> None:
    repo.seed()
    repo.mount_secrets(gateway=True)
    config = repo.config({"remove": {"paths": ["x"]}}, gateway={"url": "http://gw.example:4929/api/v1"})
    del config["s3"]
    run = repo.run(config, CVMFS_DOUBLE_FAIL="publish")
    assert run.code == ExitCode.PUBLISH_FAILED
    assert ["transaction", f"{FQRN}/sw"] in repo.calls()
    assert run.result["leaseToken"].startswith("double-lease-")
    assert repo.verbs()[-1] == "abort"
    assert not (repo.spool / "session_token").exists()
    server = repo.host(f"/etc/cvmfs/repositories.d/{FQRN}/server.conf").read_text()
    assert f"CVMFS_UPSTREAM_STORAGE=gw,/var/spool/cvmfs/{FQRN}/tmp,http://gw.example:4929/api/v1\n" in server
    assert os.stat(repo.host(f"/etc/cvmfs/keys/{FQRN}.gw")).st_mode & 0o777 == 0o400
    assert not repo.host(f"/etc/cvmfs/keys/{FQRN}.key").exists()
    assert GATEWAY_SECRET not in run.stderr + str(run.result)
