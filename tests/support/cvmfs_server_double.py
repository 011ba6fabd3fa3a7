"""A TEST DOUBLE of ``cvmfs_server`` (not CernVM-FS): the verbs the publisher uses, same evaluation.

Run through ``tests/support/bin/cvmfs_server``. It works under the file-system root
``CVMFS_DOUBLE_ROOT`` (default: ``CVMFS_PUBLISHER_ROOT``) and behaves as cvmfs_server 2.12.0
(github.com/cvmfs/cvmfs @ ae7450ec) does, including everything it lets a shell evaluate — the
double is as dangerous as the real tool, so tests can prove with marker files what runs:

* ``mount <fqrn>`` (cvmfs_server_mount.sh): the configuration as ``load_repo_config`` sources it;
  fails like cvmfs unless the attachment files are what a real mount needs (server.conf keys,
  client.conf, both fstab lines, key modes, spool dirs, s3.conf 0600); it then shows the published
  tree in ``/cvmfs/<fqrn>`` (a plain directory here, no FUSE/OverlayFS);
* ``transaction``/``abort`` (:mod:`tests.support.cvmfs_publish_double`): ``$@`` split and globbed
  by the shell, then cvmfs_publish's option parsing, exit codes and checks (EEXIST while
  ``<spool>/in_transaction.lock`` exists, EIO for a missing or expired whitelist, EINVAL for an
  abort outside a transaction); with a gateway ``transaction`` writes a ``session_token``;
* ``publish`` (:mod:`tests.support.cvmfs_server_publish_double`): the script's command strings run
  with ``sh -c``; the ``cvmfs_swissknife`` stand-in (:mod:`tests.support.swissknife_double`) parses
  them as the real one and uploads files, a catalog (zlib JSON here, SQLite in cvmfs), the tag
  database, ``.cvmfsreflog`` (checked against ``reflog.chksum`` or the manifest's ``Y``) and the
  next ``.cvmfspublished``;
* ``ingest -t TAR -b DIR <fqrn>`` (argument loop of cvmfs_server_ingest.sh) = transaction + unpack
  + the publish steps without a tag name (auto-tag), abort on failure.
* ``tag``, ``rollback`` (:mod:`tests.support.cvmfs_maintenance_double`), ``resign``, ``gc``,
  ``check`` (:mod:`tests.support.cvmfs_admin_double`) and ``mkfs`` for S3
  (:mod:`tests.support.cvmfs_mkfs_double`), each with its script's checks, messages and command
  strings.

The shell is ``CVMFS_DOUBLE_SHELL`` (default ``/bin/sh``), see :mod:`tests.support.cvmfs_shell`.
Knobs: ``CVMFS_DOUBLE_FAIL=verb[,verb]`` exits 1 at the start of those verbs;
``CVMFS_DOUBLE_HANG=verb`` blocks there until killed; every call is appended (JSON lines, a
``start`` and an ``exit`` event; the stand-in adds a ``swissknife`` event per call) to
``CVMFS_DOUBLE_LOG`` (default ``<root>/cvmfs_server_double.log``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tarfile
from typing import Any

from tests.support import (
    cvmfs_admin_double,
    cvmfs_maintenance_double,
    cvmfs_mkfs_double,
    cvmfs_publish_double,
    cvmfs_shell,
)
from tests.support.cvmfs_repo_double import Repo
from tests.support.cvmfs_server_publish_double import Died, Options, Publish, publish, repository_names
from tests.support.cvmfs_storage_double import Failure, log_path, manifest_fields, read_tags, reflog_bytes

__all__ = ["main", "manifest_fields", "read_tags", "reflog_bytes"]  # the harness reads storage with these


def mount(args: list[str]) -> None:
    for name in repository_names(args):
        repo = Repo.sourced(name.split("/", 1)[0])
        repo.check_attachment()
        repo.manifest()  # the rdonly FUSE client mounts from the Stratum 0
        if not repo.lock.exists():
            repo.materialize()


def ingest(args: list[str]) -> None:
    values: dict[str, str] = {}
    rest = list(args)
    while len(rest) > 1 and rest[1] != "":  # while [ "$2" != "" ]; do case $1 in ...; shift; done
        long_names = {"--tar_file": "-t", "--base_dir": "-b"}
        flag = long_names.get(rest[0], rest[0])
        if flag in ("-t", "-b"):
            values[flag] = rest[1]
        rest.pop(0)
    name = rest[0].split("/", 1)[0] if rest else ""
    if "-t" not in values or "-b" not in values:
        raise Died("the cvmfs_server double ingests a tarball: give -t TAR and -b DIR")
    repo = Repo.sourced(name)
    try:
        cvmfs_publish_double.transaction([name])
    except Failure as failure:
        print(str(failure), file=sys.stderr)
        raise Died("Impossible to start a transaction") from None
    try:
        target = repo.union / values["-b"].strip("/")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(values["-t"], mode="r:*") as archive:
            archive.extractall(target, filter="data")
        if not Publish(repo, Options()).run():
            raise Failure("", 1)
    except (Failure, tarfile.TarError, OSError):
        cvmfs_publish_double.abort(["-f", name])
        raise


VERBS = {"mount": mount, "transaction": cvmfs_publish_double.transaction, "publish": publish,
         "abort": cvmfs_publish_double.abort, "ingest": ingest,
         # repository maintenance: tests/support/cvmfs_{maintenance,admin,mkfs}_double.py
         "tag": cvmfs_maintenance_double.tag, "rollback": cvmfs_maintenance_double.rollback,
         "resign": cvmfs_admin_double.resign, "gc": cvmfs_admin_double.gc, "check": cvmfs_admin_double.check,
         "mkfs": cvmfs_mkfs_double.mkfs}


def dispatch(verb: str, args: list[str]) -> None:
    if verb in os.environ.get("CVMFS_DOUBLE_FAIL", "").split(","):
        raise Failure(f"cvmfs_server double: injected failure in {verb}")
    if verb in os.environ.get("CVMFS_DOUBLE_HANG", "").split(","):
        while True:
            signal.pause()
    if verb not in VERBS:
        raise Failure(f"the cvmfs_server double does not implement {verb!r}")
    VERBS[verb](args)


def _log(event: dict[str, Any]) -> None:
    with log_path().open("a") as log:
        log.write(json.dumps(event) + "\n")


def main(argv: list[str]) -> int:
    _log({"event": "start", "argv": argv, "pid": os.getpid()})
    code = 0
    try:
        if not argv:
            raise Failure("usage: cvmfs_server <command> [options] <fqrn>", 2)
        dispatch(argv[0], argv[1:])
    except Died as died:
        sys.stdout.flush()
        cvmfs_shell.die(str(died))
        code = 1
    except Failure as failure:
        if str(failure):
            print(str(failure), file=sys.stderr)
        code = failure.code
    _log({"event": "exit", "argv": argv, "code": code})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
