"""TEST DOUBLE of ``cvmfs_server resign``, ``gc`` and ``check`` (cvmfs 2.12.0 @ ae7450ec).

- ``resign`` (cvmfs_server_resign.sh ``cvmfs_server_resign``; cvmfs_server_ssl.sh
  ``create_whitelist``): ``getopts "d:fpw:"``; root only ("Only root can resign whitelists");
  ``-d`` over 30 days warns and asks unless ``-f``; needs ``/etc/cvmfs/keys/<fqrn>.masterkey``
  ("Neither masterkey nor masterkeycard is available to sign whitelist!") and the certificate
  ``<fqrn>.crt``, whose fingerprint (SHA-1 of its DER, ``AB:CD:…``) is the whitelist's only entry —
  the real pipeline ``openssl x509 … | cvmfs_publish hash -f`` fingerprints EMPTY input when the
  certificate is missing, and so does the double. Creation and expiry come from ``date -u`` and
  ``date -u --date="+$expire_days days"`` run by the shell, as in the script. The whitelist is
  uploaded with ``cvmfs_swissknife upload -i … -o .cvmfswhitelist -r $CVMFS_UPSTREAM_STORAGE``.
  Not emulated: ``-w`` (offline file), ``-p`` (re-sign the manifest), masterkey cards; the
  signature bytes are not an RSA signature (the double never verifies one).
- ``gc`` (cvmfs_server_gc.sh ``cvmfs_server_gc``, ``__do_gc_cmd``, ``__run_gc``):
  ``getopts "ldr:t:faL:"``; ``-t`` parsed by ``date --date`` ("Cannot parse time stamp …"), ``-r``
  and ``-t`` exclusive, default ``3 days ago``; "Garbage Collection is not enabled for <fqrn>" unless
  ``CVMFS_GARBAGE_COLLECTION=true``; without ``-f`` it asks; ``is_collecting`` lock, a transaction
  held for the run (closed by the trap), then ``cvmfs_swissknife gc … -R <spool>/reflog.chksum
  $additional_switches`` with ``sh -c`` ("Fail (6)!"). Not emulated: ``-a``, reflog
  reconstruction, ``.cvmfs_status.json``.
- ``check`` (cvmfs_server_check.sh ``cvmfs_server_check``, ``__do_check``,
  ``__check_repair_reflog``): ``getopts "acit:s:r"``; ``-c`` SKIPS the data-object check (swissknife's
  ``-c`` turns it on), ``-i`` on S3 prints "Storage integrity check only works locally. skipping.",
  ``-t TAG`` becomes ``-n $TAG`` spliced UNQUOTED into the ``sh -c`` string, ``-r`` re-hashes the
  remote ``.cvmfsreflog`` into ``reflog.chksum`` (or removes a dangling one); the exit code is
  swissknife check's. Not emulated: ``-a``, ``-s``, reflog reconstruction.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.support import cvmfs_layout as layout
from tests.support import cvmfs_shell
from tests.support.cvmfs_maintenance_double import ask, common_checks, one_repository, parse, transaction_of
from tests.support.cvmfs_repo_double import Repo
from tests.support.cvmfs_server_publish_double import SWISSKNIFE, Died, Options, Publish, repository_names
from tests.support.cvmfs_storage_double import Failure, host, http_get

ROOT_UID = 0


def _is_root() -> bool:
    return os.geteuid() == ROOT_UID


def certificate_fingerprint(crt: Path) -> str:
    """``openssl x509 -in $crt -outform der | cvmfs_publish hash -a sha1 -f``."""
    try:
        pem = crt.read_text()
    except OSError:
        print(f"Could not open file or uri for loading certificate from {crt}", file=sys.stderr)
        pem = ""
    import base64
    import binascii

    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    try:
        der = base64.b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        der = body.encode()  # not base64 (a test's stand-in PEM): its text stands in for the DER
    digest = hashlib.sha1(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def create_whitelist(repo: Repo, expire_days: str) -> None:
    name = repo.fqrn
    if not host(f"/etc/cvmfs/keys/{name}.masterkey").is_file():
        raise Died("Neither masterkey nor masterkeycard is available to sign whitelist!")
    expire_days = expire_days or "30"
    print(f"Signing {expire_days} day whitelist with master key... ", end="", flush=True)
    created = cvmfs_shell.substitute('date -u "+%Y%m%d%H%M%S"')
    expires = cvmfs_shell.substitute('date -u --date="+$1 days" "+%Y%m%d%H%M%S"', [expire_days])
    fingerprint = certificate_fingerprint(host(f"/etc/cvmfs/keys/{name}.crt"))
    header = f"{created}\nE{expires}\nN{name}\n{fingerprint}\n".encode()
    whitelist = header + b"--\n" + hashlib.sha1(header).hexdigest().encode() + b"\n" + layout.SIGNATURE_BYTES
    spool_tmp = repo.spool / "tmp"
    spool_tmp.mkdir(parents=True, exist_ok=True)
    path = spool_tmp / f"whitelist.{name}"
    path.write_bytes(whitelist)
    upstream = cvmfs_shell.split_words([repo.value("CVMFS_UPSTREAM_STORAGE")])
    pod_path = f"{repo.value('CVMFS_SPOOL_DIR')}/tmp/whitelist.{name}"
    done = subprocess.run([SWISSKNIFE, "upload", "-i", pod_path, "-o", ".cvmfswhitelist", "-r", *upstream],
                          check=False)
    path.unlink(missing_ok=True)
    if done.returncode != 0:  # set -e
        raise Failure("", done.returncode)
    print("done")


def resign(args: list[str]) -> None:
    pairs, rest = parse("resign", args, "d:fpw:")
    options = {flag: value for flag, value in pairs}
    if "-w" in options or "-p" in options:
        if "-p" in options and "-d" in options:
            raise Died("Cannot use -d with -p")
        if "-p" in options and "-w" in options:
            raise Died("Cannot use both -w and -p")
        raise Failure("the cvmfs_server double does not emulate resign -w or -p")
    names = repository_names(rest)
    if not _is_root():
        raise Died("Only root can resign whitelists")
    days = options.get("-d", "")
    over = cvmfs_shell.substitute('[ -n "$1" ] && [ $1 -gt 30 ] 2>/dev/null && echo yes', [days])
    if over == "yes":
        print("Warning: whitelist expiration is more than 30 days.")
        print("Long expirations increase risk from repository key compromises!")
        if "-f" not in options and not ask("Are you sure you want to do this (y/N)? "):
            raise Failure("", 1)
    retcode = 0
    for name in names:
        repo = Repo.sourced(name.split("/", 1)[0])
        if repo.value("CVMFS_REPOSITORY_TYPE") != "stratum0":
            print(f"Repository {name} is not a stratum 0 repository")
            retcode = 1
            continue
        create_whitelist(repo, days)
    if retcode:
        raise Failure("", retcode)


def _gc_lock(repo: Repo) -> int:
    """``acquire_gc_lock $name gc 1``: a non-blocking flock on ``<spool>/is_collecting.lock``."""
    fd = os.open(repo.spool / "is_collecting.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        print(f"A check or other gc on {repo.fqrn} is in progress... aborting")
        raise Died(f"Failed to acquire gc lock for {repo.fqrn}") from None
    return fd


def gc(args: list[str]) -> None:
    pairs, rest = parse("gc", args, "ldr:t:faL:")
    flags = {flag: value for flag, value in pairs}
    if "-a" in flags:
        raise Failure("the cvmfs_server double does not emulate gc -a")
    names = repository_names(rest)
    revisions = int(flags.get("-r", "-1")) if flags.get("-r", "-1").lstrip("-").isdigit() else -1
    timestamp = 0
    if flags.get("-t"):
        text = cvmfs_shell.substitute('date --date "$1" +%s 2>/dev/null', [flags["-t"]])
        if not text.isdigit():
            raise Died(f"Cannot parse time stamp '{flags['-t']}'")
        timestamp = int(text)
    if revisions >= 0 and timestamp > 0:
        raise Died("Please specify either timestamp OR revision thresholds (-r and -t are mutual exclusive)")
    if revisions < 0 and timestamp <= 0:
        timestamp = int(cvmfs_shell.substitute("date --date '3 days ago' +%s"))
    dry_run = "-d" in flags
    if "-f" not in flags and not dry_run:
        print("YOU ARE ABOUT TO DELETE DATA! Are you sure you want to do the following:")
    print(f"Affected Repositories:         {' '.join(names)}")
    print(f"Dry Run (no actual deletion):  {'yes' if dry_run else 'no'}")
    print("Needs Reflog reconstruction:   no")
    if revisions >= 0:
        print(f"Preserved Legacy Revisions:    {revisions}")
    if "-f" not in flags:
        print("")
        if not ask("Please confirm this action (y/N)? "):
            raise Failure("", 1)
    for name in names:
        _gc_one(Repo.sourced(name.split("/", 1)[0]), flags, revisions, timestamp)


def _gc_one(repo: Repo, flags: dict[str, str], revisions: int, timestamp: int) -> None:
    if http_get(f"{repo.stratum0}/.cvmfspublished") is None:
        raise Died(f"Repository unavailable under {repo.value('CVMFS_STRATUM0')}")
    if repo.value("CVMFS_GARBAGE_COLLECTION") != "true":
        raise Died(f"Garbage Collection is not enabled for {repo.fqrn}")
    if http_get(f"{repo.stratum0}/.cvmfsreflog") is None:
        raise Failure("the cvmfs_server double does not emulate reflog reconstruction")
    switches = "".join([" -l" if "-l" in flags else "", " -d" if "-d" in flags else "",
                        f" -h {revisions}" if revisions >= 0 else "",
                        f" -z {timestamp}" if timestamp > 0 else ""])
    if flags.get("-L"):
        switches += f" -L {flags['-L']}"
    _, proxy = Publish(repo, Options()).common_flags()
    command = " ".join([f"{SWISSKNIFE} gc", "-r", repo.value("CVMFS_STRATUM0"), proxy,
                        "-u", repo.value("CVMFS_UPSTREAM_STORAGE"), "-n", repo.value("CVMFS_REPOSITORY_NAME"),
                        "-k", repo.value("CVMFS_PUBLIC_KEY"), "-t", f"{repo.value('CVMFS_SPOOL_DIR')}/tmp/",
                        "-R", f"/var/spool/cvmfs/{repo.fqrn}/reflog.chksum"]) + switches
    if "-d" in flags:
        print("Running Garbage Collection ", flush=True)
        if cvmfs_shell.run_command(command) != 0:
            raise Died("Fail (6)!")
        return
    lock = _gc_lock(repo)
    try:
        if repo.lock.exists():
            raise Died("Cannot run garbage collection while in a transaction")
        with transaction_of(repo, "garbage collection"):
            print("Running Garbage Collection ", flush=True)
            if cvmfs_shell.run_command(command) != 0:
                raise Died("Fail (6)!")
    finally:
        os.close(lock)


def _repair_reflog(repo: Repo) -> None:
    """``__check_repair_reflog``: the remote reflog's hash into reflog.chksum (or the file removed)."""
    chksum = host(f"/var/spool/cvmfs/{repo.fqrn}/reflog.chksum")
    stored = chksum.read_text().strip() if chksum.is_file() else None
    url = f"{repo.value('CVMFS_STRATUM0')}/.cvmfsreflog"
    raw = http_get(f"{repo.stratum0}/.cvmfsreflog")
    computed = hashlib.sha1(raw).hexdigest() if raw is not None else None
    if computed is not None:
        print(f"Info: found {url} with content hash {computed}")
    if stored is not None and computed is None:
        chksum.unlink()
        print(f"Warning: removed dangling reflog checksum /var/spool/cvmfs/{repo.fqrn}/reflog.chksum")
    elif stored is not None and stored != computed:
        chksum.write_text(f"{computed}\n")
        print(f"Warning: restored reflog checksum as {computed} (was: {stored})")
    elif stored is None and computed is not None:
        chksum.write_text(f"{computed}\n")
        print(f"Warning: re-created missing reflog checksum as {computed}")
    if computed is None and repo.manifest().get("Y"):
        raise Failure("the cvmfs_server double does not emulate reflog reconstruction")


def check(args: list[str]) -> None:
    pairs, rest = parse("check", args, "acit:s:r")
    flags = {flag: value for flag, value in pairs}
    if "-a" in flags or "-s" in flags:
        raise Failure("the cvmfs_server double does not emulate check -a or -s")
    repo = one_repository(rest)
    common_checks(repo)
    if "-i" in flags:
        print("Storage integrity check only works locally. skipping.")
    print(f"Verifying integrity of {repo.fqrn}...", flush=True)
    if "-r" in flags:
        _repair_reflog(repo)
    publish = Publish(repo, Options())
    redirects, proxy = publish.common_flags()
    log_level = repo.value("CVMFS_LOG_LEVEL") or "2"  # CVMFS_LOG_LEVEL=2 __do_check "$@"
    chksum = f"/var/spool/cvmfs/{repo.fqrn}/reflog.chksum"
    command = " ".join([
        f"{SWISSKNIFE} check", f"-n {flags['-t']}" if "-t" in flags else "", "" if "-c" in flags else "-c",
        f"-l {log_level}", "-r", repo.value("CVMFS_STRATUM0"), "-t", f"{repo.value('CVMFS_SPOOL_DIR')}/tmp",
        "-k", repo.value("CVMFS_PUBLIC_KEY"), "-N", repo.value("CVMFS_REPOSITORY_NAME"), proxy, redirects,
        f"-R {chksum}" if host(chksum).is_file() else ""])
    lock = _gc_lock(repo) if "-t" not in flags and repo.value("CVMFS_GARBAGE_COLLECTION") == "true" else None
    try:
        code = cvmfs_shell.run_command(command)
    finally:
        if lock is not None:
            os.close(lock)
    if code:
        raise Failure("", code)
