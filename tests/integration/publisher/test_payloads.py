"""Each payload kind, published end to end: publisher subprocess -> cvmfs_server double -> moto S3."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import Stratum0


def make_tar(entries: dict[str, bytes | tuple[str, str]]) -> bytes:
    """name -> file content, or ("symlink"|"hardlink", target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(value, tuple):
                info.type = tarfile.SYMTYPE if value[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = value[1]
                archive.addfile(info)
            else:
                info.size = len(value)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(value))
    return buffer.getvalue()


class Served:
    """A loopback HTTP server for tarballs; ``requests`` records the paths asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.statuses: dict[str, int] = {}  # paths answered with an error status instead
        self.requests: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests.append(self.path)
                if self.path.split("?")[0] in served.statuses:
                    self.send_error(served.statuses[self.path.split("?")[0]])
                    return
                body = served.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http() -> Iterator[Served]:
    served = Served()
    yield served
    served.close()


def assert_published(repo: Stratum0, run_code: int, result: dict[str, object], revision: int) -> None:
    assert run_code == ExitCode.SUCCEEDED, (result["message"], result["logTail"])
    assert result["outcome"] == "Succeeded"
    assert result["revisionBefore"] == revision - 1
    assert result["revisionAfter"] == revision
    manifest = repo.manifest()
    assert int(manifest["S"]) == revision
    assert result["rootHash"] == manifest["C"]
    assert result["tag"] == "team-release-1"
    assert repo.tags()["team-release-1"].revision == revision
    assert repo.tags()["team-release-1"].description == "release 1"
    assert not (repo.spool / "in_transaction.lock").exists()


def test_tarball_over_http_is_published_with_the_tag(repo: Stratum0, http: Served) -> None:
    checksum = repo.seed({"sw/old.txt": b"old"})
    http.files["/release.tar.gz"] = make_tar({"bin/tool": b"#!/bin/sh\n", "README": b"hello"})
    config = repo.config({"tarball": {"url": http.url("/release.tar.gz?X-Amz-Signature=presigned-secret")}},
                         reflogChecksum=checksum)
    run = repo.run(config)
    assert_published(repo, run.code, run.result, revision=4)
    tree = repo.published_tree()
    assert tree["sw/bin/tool"] == b"#!/bin/sh\n"
    assert tree["sw/README"] == b"hello"
    assert tree["sw/old.txt"] == b"old"  # like ingest: a tarball adds, it does not replace the path
    assert repo.verbs() == ["mount", "transaction", "publish"]
    assert ["publish", "-f", "-a", "team-release-1", "-m", "release 1", "sw.example.org"] in repo.calls()
    # the reflog checksum handed to the next publisher is the one of the reflog now in S3
    assert run.result["reflogChecksum"] == repo.manifest()["Y"]
    steps = {"configure", "mount", "fetch", "transaction", "payload", "publish"}
    assert set(run.result["durations"]) >= steps
    assert "presigned-secret" not in run.stderr + str(run.result)


def test_tarball_from_s3_uses_the_repository_endpoint(repo: Stratum0) -> None:
    repo.seed()
    repo.s3.client().put_object(Bucket=repo.bucket, Key="uploads/r2.tar", Body=make_tar({"lib/a.so": b"ELF"}))
    run = repo.run(repo.config({"tarball": {"url": f"s3://{repo.bucket}/uploads/r2.tar"}}, path="/"))
    assert_published(repo, run.code, run.result, revision=4)
    assert repo.published_tree()["lib/a.so"] == b"ELF"


def test_stage_syncs_staging_into_the_path_and_deletes_what_is_gone(repo: Stratum0) -> None:
    repo.seed({"sw/keep.txt": b"same", "sw/gone.txt": b"bye", "other/untouched": b"x"})
    staging = repo.host("/var/staging")
    (staging / "sub").mkdir(parents=True)
    (staging / "keep.txt").write_bytes(b"same")
    (staging / "sub" / "new.txt").write_bytes(b"new")
    os.symlink("sub/new.txt", staging / "link")
    run = repo.run(repo.config({"stage": {"image": "builder:1"}}))
    assert_published(repo, run.code, run.result, revision=4)
    tree = repo.published_tree()
    assert tree["sw/keep.txt"] == b"same"
    assert tree["sw/sub/new.txt"] == b"new"
    assert tree["sw/link"] == ("symlink", "sub/new.txt")
    assert "sw/gone.txt" not in tree
    assert tree["other/untouched"] == b"x"


def test_remove_deletes_only_the_named_paths(repo: Stratum0) -> None:
    repo.seed({"sw/a/1": b"1", "sw/a/2": b"2", "sw/b": b"b", "sw/c": b"c"})
    run = repo.run(repo.config({"remove": {"paths": ["a", "b", "never-there"]}}))
    assert_published(repo, run.code, run.result, revision=4)
    tree = repo.published_tree()
    assert not any(path.startswith(("sw/a", "sw/b")) for path in tree)
    assert tree["sw/c"] == b"c"
    assert any("never-there was already absent" in line for line in run.result["logTail"])


def test_script_runs_in_the_transaction_as_nobody(repo: Stratum0) -> None:
    repo.seed({"sw/existing": b"e"})
    source = ('id -u > uid.txt\necho "$CVMFS_TRANSACTION_PATH" > path.txt\n'
              'rm existing\nmkdir -p d && echo hi > d/f\n')
    run = repo.run(repo.config({"script": {"source": source}}, allowScripts=True))
    assert_published(repo, run.code, run.result, revision=4)
    tree = repo.published_tree()
    assert tree["sw/uid.txt"] == b"65534\n"
    assert tree["sw/path.txt"] == b"/sw\n"
    assert tree["sw/d/f"] == b"hi\n"
    assert "sw/existing" not in tree
    assert os.stat(repo.union / "sw" / "d" / "f").st_uid == 0  # handed back to the repository owner


def test_the_script_cannot_read_keys_or_s3_credentials(repo: Stratum0) -> None:
    repo.seed()
    probes = [
        "/etc/cvmfs/keys/sw.example.org.key", "/run/cvmfs/keys/sw.example.org.key",
        "/run/cvmfs/s3/secretAccessKey", "/etc/cvmfs/s3/sw.example.org.conf",
    ]
    lines = [f'if cat "{repo.root}{p}" >/dev/null 2>&1; then echo "READ {p}"; else echo "DENIED {p}"; fi'
             for p in probes]
    lines.append('grep -c "" /proc/$PPID/environ >/dev/null 2>&1 && echo "READ environ" '
                 '|| echo "DENIED environ"')
    lines.append('env > env.txt')
    run = repo.run(repo.config({"script": {"source": "\n".join(lines)}}, allowScripts=True))
    assert run.code == ExitCode.SUCCEEDED, run.result
    output = "\n".join(run.result["logTail"]) + run.stderr
    for probe in probes:
        assert f"DENIED {probe}" in output
    assert "READ" not in output
    env = repo.published_tree()["sw/env.txt"].decode()
    assert "CVMFS_PUBLISHER_CONFIG" not in env
    assert "AWS" not in env
    assert f"CVMFS_TRANSACTION_DIR={repo.union / 'sw'}" in env


def test_a_script_is_refused_where_the_repository_does_not_allow_it(repo: Stratum0) -> None:
    repo.seed()
    run = repo.run(repo.config({"script": {"source": "touch x"}}, allowScripts=False))
    assert run.code == ExitCode.INVALID_INPUT
    assert run.result["step"] == "configure"
    assert repo.verbs() == []
    assert int(repo.manifest()["S"]) == 3


def test_ingest_verb_of_the_double_publishes_a_tarball(repo: Stratum0, tmp_path: Path) -> None:
    """The double's ``ingest`` (transaction + unpack + publish) for tools that call it directly."""
    import subprocess

    from tests.integration.publisher.harness import BIN

    repo.seed()
    repo.run(repo.config({"remove": {"paths": ["nothing"]}}))  # attaches the pod (revision 4)
    tar = tmp_path / "t.tar"
    tar.write_bytes(make_tar({"f": b"ingested"}))
    env = repo.env("{}")
    argv = [str(BIN / "cvmfs_server"), "ingest", "-t", str(tar), "-b", "in", "sw.example.org"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert repo.published_tree()["in/f"] == b"ingested"
    assert int(repo.manifest()["S"]) == 5
    assert any(name.startswith("generic-") for name in repo.tags())
