"""TEST DOUBLE of ``cvmfs_server mkfs`` for an S3 upstream with existing keys (cvmfs 2.12.0 @ ae7450ec).

What cvmfs_server_mkfs.sh ``cvmfs_server_mkfs`` does, in its order, for ``-u S3,…`` or ``-s``:

- ``getopts "Xw:u:o:mf:vgG:a:zs:k:pRV:Z:x:"``; exactly one name ("invalid repository name: …" per
  ``is_valid_repo_name``); root only ("Only root can create a new repository");
- upstream: ``-u`` verbatim, else from ``-s`` (``make_s3_upstream``: alias ``<fqrn>``, or
  ``<url path>/<fqrn>`` unless the S3 file contains ``CVMFS_S3_DNS_BUCKETS=false``); Stratum 0 URL:
  with ``-s`` ``-w`` is required ("Please specify the HTTP-URL for S3 (add option -w)") and gets
  ``/<fqrn>`` appended (``mangle_s3_cvmfs_url``), without ``-s`` ``-w`` is used verbatim;
- the ONLY existence check is the local ``/etc/cvmfs/repositories.d/<fqrn>`` ("The repository … already
  exists"): a bucket prefix that already holds a repository is overwritten (manifest, whitelist,
  reflog), here as in cvmfs;
- keys ``<fqrn>.masterkey .crt .pub .key``: if any is in ``/etc/cvmfs/keys`` already, ``-k`` must be
  that directory ("Importing keys from '…' would overwrite keys in '/etc/cvmfs/keys'"); then
  ``import_keychain`` copies the absent ones ("fail!" when one is missing) and sets 0400/0444;
- the owner ``-o`` (without it the script asks; no answer is "No user ");
- server.conf and client.conf as ``create_config_files_for_new_repository`` writes them (values
  unquoted in a here-document: the shell evaluates them when they are sourced), spool directories,
  ``create_whitelist`` (:func:`tests.support.cvmfs_admin_double.create_whitelist`, 30 days), then
  ``cvmfs_swissknife create … -R <spool>/reflog.chksum [-z]`` with ``sh -c`` ("fail! (cannot init
  repo)"), ``sign_manifest`` of ``tmp/new_manifest`` (revision 0), the fstab lines and the mount,
  ``alterfs -m on`` (uploads ``.cvmfs_master_replica``), and the initial commit: a transaction, the
  file ``new_repository``, ``publish`` (revision 1, tagged ``generic-<time>`` unless ``-g``).

Not emulated (refused): key generation (no ``-k`` and no keys), local or gateway upstreams,
``-V``, ``-X``, ``-R``, ``-v``, ``-G``, ``-f aufs``, ``-x``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse

from tests.support import cvmfs_publish_double, cvmfs_shell
from tests.support.cvmfs_admin_double import create_whitelist
from tests.support.cvmfs_maintenance_double import parse, sign_command
from tests.support.cvmfs_repo_double import SPOOL_DIRS, Repo, config_dir
from tests.support.cvmfs_server_publish_double import SWISSKNIFE, Died, Options, Publish, usage
from tests.support.cvmfs_storage_double import Failure, host, http_get

KEYS = "/etc/cvmfs/keys"
NOT_EMULATED = {"-V": "VOMS", "-X": "external data", "-R": "masterkey cards", "-v": "volatile repositories",
                "-G": "auto-tag timespans", "-x": "proxies"}


def _valid_name(name: str) -> bool:
    return (0 < len(name) <= 60 and name[0].isascii() and name[0].isalnum()
            and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name))


def _server_conf(name: str, upstream: str, stratum0: str, owner: str, flags: dict[str, str]) -> str:
    gc = "true" if "-z" in flags else "false"
    text = (
        "# Created by cvmfs_server.\nCVMFS_CREATOR_VERSION=143\n"
        f"CVMFS_REPOSITORY_NAME={name}\nCVMFS_REPOSITORY_TYPE=stratum0\nCVMFS_USER={owner}\n"
        f"CVMFS_UNION_DIR=/cvmfs/{name}\nCVMFS_SPOOL_DIR=/var/spool/cvmfs/{name}\n"
        f"CVMFS_STRATUM0={stratum0}\nCVMFS_UPSTREAM_STORAGE={upstream}\nCVMFS_USE_FILE_CHUNKING=true\n"
        "CVMFS_MIN_CHUNK_SIZE=4194304\nCVMFS_AVG_CHUNK_SIZE=8388608\nCVMFS_MAX_CHUNK_SIZE=16777216\n"
        f"CVMFS_UNION_FS_TYPE=overlayfs\nCVMFS_HASH_ALGORITHM={flags.get('-a') or 'sha1'}\n"
        f"CVMFS_COMPRESSION_ALGORITHM={flags.get('-Z') or 'default'}\nCVMFS_EXTERNAL_DATA=false\n"
        f"CVMFS_AUTO_TAG={'false' if '-g' in flags else 'true'}\nCVMFS_AUTO_TAG_TIMESPAN=\"\"\n"
        f"CVMFS_GARBAGE_COLLECTION={gc}\nCVMFS_AUTO_REPAIR_MOUNTPOINT=true\nCVMFS_AUTOCATALOGS=false\n"
        "CVMFS_ASYNC_SCRATCH_CLEANUP=true\nCVMFS_PRINT_STATISTICS=false\nCVMFS_UPLOAD_STATS_DB=false\n"
        "CVMFS_UPLOAD_STATS_PLOTS=false\nCVMFS_IGNORE_XDIR_HARDLINKS=true\n")
    return text + ("CVMFS_AUTO_GC=true\n" if gc == "true" else "")


def _client_conf(name: str, stratum0: str, owner: str) -> str:
    spool = f"/var/spool/cvmfs/{name}"
    return (f"# Created by cvmfs_server.\nCVMFS_CACHE_BASE={spool}/cache\n"
            f"CVMFS_RELOAD_SOCKETS={spool}/cache\n"
            f"CVMFS_QUOTA_LIMIT=4000\nCVMFS_MOUNT_DIR=/cvmfs\nCVMFS_SERVER_URL={stratum0}\n"
            f"CVMFS_HTTP_PROXY=DIRECT\nCVMFS_PUBLIC_KEY={KEYS}/{name}.pub\nCVMFS_CHECK_PERMISSIONS=yes\n"
            "CVMFS_IGNORE_SIGNATURE=no\nCVMFS_AUTO_UPDATE=no\nCVMFS_NFS_SOURCE=no\n"
            "CVMFS_MAGIC_XATTRS_VISIBILITY=never\nCVMFS_FOLLOW_REDIRECTS=yes\nCVMFS_SERVER_CACHE_MODE=yes\n"
            f"CVMFS_NFILES=65536\nCVMFS_TALK_SOCKET={spool}/cvmfs_io\nCVMFS_TALK_OWNER={owner}\n"
            "CVMFS_USE_SSL_SYSTEM_CA=true\n")


def _fstab(name: str) -> str:
    spool, marker = f"/var/spool/cvmfs/{name}", f"0 0 # added by CernVM-FS for {name}"
    return (f"cvmfs2#{name} {spool}/rdonly fuse allow_other,fsname={name},config=/etc/cvmfs/repositories.d/"
            f"{name}/client.conf:{spool}/client.local,cvmfs_suid,noauto {marker}\n"
            f"overlay_{name} /cvmfs/{name} overlay upperdir={spool}/scratch/current,lowerdir={spool}/rdonly,"
            f"workdir={spool}/ofs_workdir,noauto,nodev,ro {marker}\n")


def _import_keys(name: str, location: str) -> None:
    """``import_keychain``: copy what /etc/cvmfs/keys lacks, then chmod every key (400 / 444)."""
    host(KEYS).mkdir(parents=True, exist_ok=True)
    for key in (f"{name}.masterkey", f"{name}.crt", f"{name}.pub", f"{name}.key"):
        target = host(f"{KEYS}/{key}")
        try:
            if not target.is_file():
                shutil.copyfile(host(f"{location}/{key}"), target)
            os.chmod(target, 0o400 if key.endswith("key") else 0o444)
        except OSError:
            raise Died("fail!") from None


def _upstream_and_url(name: str, flags: dict[str, str]) -> tuple[str, str]:
    upstream, s3_config, stratum0 = flags.get("-u", ""), flags.get("-s", ""), flags.get("-w", "")
    if not upstream:
        if not s3_config:
            raise Failure("the cvmfs_server double only creates S3 repositories (-s or -u S3,...)")
        subpath = urllib.parse.urlsplit(stratum0).path.strip("/")
        dns_off = "CVMFS_S3_DNS_BUCKETS=false" in host(s3_config).read_text()
        alias = f"{subpath}/{name}" if subpath and not dns_off else name
        upstream = f"S3,/var/spool/cvmfs/{name}/tmp,{alias}@{s3_config}"
    if s3_config:
        if not stratum0:
            raise Died("Please specify the HTTP-URL for S3 (add option -w)")
        stratum0 = stratum0 if stratum0.endswith("/") else stratum0 + "/"
        stratum0 += name
    elif not stratum0:
        stratum0 = f"http://localhost/cvmfs/{name}"
    return upstream, stratum0


def mkfs(args: list[str]) -> None:
    pairs, rest = parse("mkfs", args, "Xw:u:o:mf:vgG:a:zs:k:pRV:Z:x:")
    flags = {flag: value for flag, value in pairs}
    for flag, what in NOT_EMULATED.items():
        if flag in flags:
            raise Failure(f"the cvmfs_server double does not emulate {what} ({flag})")
    if len(rest) != 1:
        raise usage("wrong number of parameters")
    name = rest[0].split("/", 1)[0]
    if not _valid_name(name):
        raise Died(f"invalid repository name: {name}")
    if os.geteuid() != 0:
        raise Died("Only root can create a new repository")
    upstream, stratum0 = _upstream_and_url(name, flags)
    if config_dir(name).is_dir():
        raise Died(f"The repository {name} already exists")
    if cvmfs_shell.substitute('echo $1 | grep -q "^[^,]*,[^,]*,[^,]*$" && echo ok', [upstream]) != "ok":
        raise usage("The given upstream definition (-u) is invalid. Should look like:\n"
                    "      <spooler type> , <tmp directory> , <spooler configuration>")
    if not upstream.startswith("S3,"):
        raise Failure("the cvmfs_server double only creates S3 repositories")
    location = flags.get("-k", "")
    suffixes = (".masterkey", ".crt", ".pub", ".key")
    keys_there = any(host(f"{KEYS}/{name}{suffix}").is_file() for suffix in suffixes)
    if keys_there:
        if location and location != KEYS:
            raise Died(f"Importing keys from '{location}' would overwrite keys in '{KEYS}'")
        location = KEYS
    if not location:
        raise Failure("the cvmfs_server double does not generate keys: give -k")
    owner = flags.get("-o", "")
    if not owner or subprocess.run(["id", owner], capture_output=True, check=False).returncode != 0:
        raise Died(f"No user {owner}")
    if "-z" in flags and "-g" not in flags:
        print("Note: Autotagging all revisions impedes garbage collection")
    print("Creating Configuration Files... ", end="")
    config_dir(name).mkdir(parents=True)
    (config_dir(name) / "server.conf").write_text(_server_conf(name, upstream, stratum0, owner, flags))
    (config_dir(name) / "client.conf").write_text(_client_conf(name, stratum0, owner))
    print("done")
    print(f"Importing CernVM-FS Master Key and Certificate from '{location}'... ", end="", flush=True)
    _import_keys(name, location)
    print("done")
    print("Creating CernVM-FS Server Infrastructure... ", end="")
    repo = Repo.sourced(name)
    for sub in SPOOL_DIRS:
        (repo.spool / sub).mkdir(parents=True, exist_ok=True)
    repo.union.mkdir(parents=True, exist_ok=True)
    print("done")
    create_whitelist(repo, "")
    _initial_repository(repo, flags)


def _initial_repository(repo: Repo, flags: dict[str, str]) -> None:
    name, spool = repo.fqrn, repo.value("CVMFS_SPOOL_DIR")
    print("Creating Initial Repository... ", end="", flush=True)
    command = " ".join([f"{SWISSKNIFE} create", "-t", f"{spool}/tmp",
                        "-r", repo.value("CVMFS_UPSTREAM_STORAGE"),
                        "-n", name, "-a", flags.get("-a") or "sha1", "-o", f"{spool}/tmp/new_manifest",
                        "-R", f"/var/spool/cvmfs/{name}/reflog.chksum"])
    command += " -z" if "-z" in flags else ""
    if cvmfs_shell.run_command(command, quiet_stdout=True) != 0:
        raise Died("fail! (cannot init repo)")
    if cvmfs_shell.run_command(sign_command(repo, f"{spool}/tmp/new_manifest"), quiet_stdout=True) != 0:
        raise Died("fail! (cannot sign repo)")
    print("done")
    print("Mounting CernVM-FS Storage... ", end="")
    fstab = host("/etc/fstab")
    fstab.write_text((fstab.read_text() if fstab.exists() else "") + _fstab(name))
    (repo.spool / "client.local").touch()
    print("done")
    if http_get(f"{repo.stratum0}/.cvmfs_master_replica") is None:  # cvmfs_server_alterfs -m on
        print("Allowing Replication of this Repository... ", end="", flush=True)
        marker = repo.spool / "tmp" / ".cvmfs_master_replica"
        marker.write_text("This file marks the repository as replicatable to stratum 1 servers\n")
        upstream = cvmfs_shell.split_words([repo.value("CVMFS_UPSTREAM_STORAGE")])
        done = subprocess.run([SWISSKNIFE, "upload", "-i", f"{spool}/tmp/.cvmfs_master_replica",
                               "-o", ".cvmfs_master_replica", "-r", *upstream],
                              capture_output=True, check=False)
        marker.unlink(missing_ok=True)
        if done.returncode != 0:
            print("fail!")
            raise Failure("", 1)
        print("done")
    repo.check_attachment()  # health_check
    print("Initial commit... ", end="", flush=True)
    try:
        cvmfs_publish_double.transaction([name])
    except Failure:
        raise Died("fail (transaction)") from None
    (repo.union / "new_repository").write_text(f"New CernVM-FS repository for {name}\n")
    if not Publish(repo, Options()).run():
        raise Died("fail (publish)")
    print((repo.union / "new_repository").read_text(), end="")  # cat $rdonly_dir/new_repository
    print("Updating global JSON information... done")
    print(f"\nBefore you can install anything, call `cvmfs_server transaction {name}`")

