"""TEST DOUBLE of ``cvmfs_server publish`` (``cvmfs_server_publish`` in cvmfs_server_publish.sh, 2.12.0).

The double builds the same command strings as the script, from the configuration as
``load_repo_config`` left it (:meth:`tests.support.cvmfs_repo_double.Repo.sourced`), and runs each
with ``sh -c`` (``$user_shell "$cmd"``, :func:`tests.support.cvmfs_shell.run_command`); the
``cvmfs_swissknife`` they name is the stand-in :mod:`tests.support.swissknife_double`, which does
the storage work. So everything the script would evaluate is evaluated, and whatever it would run
runs:

- options: ``getopts "F:NXZ:pa:c:m:vn:fed"`` (stops at the first non-option, as POSIX
  ``getopt``); a bad option is ``usage`` (exit 3); ``-N`` with ``-X`` likewise;
- the tag name: ``echo $tag_name | grep -q -v " "`` or "Spaces are not allowed in tag names";
  ``check_tag_existence`` looks up the first word of the unquoted name (cvmfs_server_common.sh);
- ``dirtab_command``, then ``sync_command``: ``-D $tag_name`` and ``-J $tag_description`` (when not
  empty) appended UNQUOTED, then ``-f``, ``-O``, ``-p -l -a -h``, ``-A``... from the configuration;
  failure is ``die "Synchronization failed\\n\\nExecuted Command:\\n$sync_command"``, no manifest
  written is "Manifest creation failed";
- with a gateway upstream the script stops after the sync ("Changes submitted to repository
  gateway"), never tagging: the name and description reach the gateway only as sync's ``-D``/``-J``;
- ``tag_command``: ``tag_edit ... -x -a $tag_name -D "$tag_description"`` (the description inside
  DOUBLE quotes), failure "Tagging failed";
- ``sign_manifest`` (cvmfs_server_common.sh): ``sign ... -R <spool>/reflog.chksum`` when that file
  exists, output to /dev/null, failure "Signing failed".

``die`` (cvmfs_server_prelude.sh) echoes its message unquoted and exits 1 (:func:`cvmfs_shell.die`).
Not emulated (the double refuses instead of guessing): checked-out branches, the virtual ``.cvmfs``
directory, auto-tag clean-up (``CVMFS_AUTO_TAG_TIMESPAN``), auto-GC, open file descriptors.
"""

from __future__ import annotations

import getopt
import os
import time
from dataclasses import dataclass

from tests.support import cvmfs_shell
from tests.support.cvmfs_repo_double import Repo, config_dir
from tests.support.cvmfs_storage_double import Failure, host

SWISSKNIFE = "cvmfs_swissknife"  # CVMFS_SERVER_SWISSKNIFE (cvmfs_server_coda.sh), found on PATH


class Died(Failure):
    """``die``: the message is printed through the shell's ``echo``; exit 1."""


def usage(message: str) -> Failure:
    return Failure(f"NOTE: {message}", 3)


@dataclass
class Options:
    tag_name: str = ""
    description: str = ""
    tweaks: str = ""  # -p
    verbosity: str = ""  # -v
    manual_revision: str = ""
    force_external: bool = False
    force_native: bool = False
    compression: str = ""  # -Z
    authz_file: str = ""  # -F
    direct_io: bool = False


_ARGUMENTS = {"-a": "tag_name", "-m": "description", "-n": "manual_revision", "-Z": "compression"}
_SWITCHES: dict[str, tuple[str, object]] = {
    "-p": ("tweaks", "-d"), "-v": ("verbosity", "-x"), "-X": ("force_external", True),
    "-N": ("force_native", True), "-d": ("direct_io", True)}  # -c, -e, -f: accepted, ignored


def parse_options(args: list[str]) -> tuple[Options, list[str]]:
    try:
        pairs, rest = getopt.getopt(args, "F:NXZ:pa:c:m:vn:fed")
    except getopt.GetoptError as error:
        raise usage(f"Command publish: Unrecognized option: -{error.opt}") from None
    options = Options()
    for flag, value in pairs:
        if flag in _ARGUMENTS:
            setattr(options, _ARGUMENTS[flag], value)
        elif flag in _SWITCHES:
            setattr(options, *_SWITCHES[flag])
        elif flag == "-F":
            options.authz_file = f"-F {value}"  # authz_file="-F $OPTARG"
    if options.force_external and options.force_native:
        raise usage("Command publish: -N and -X are mutually exclusive")
    return options, rest


def repository_names(args: list[str]) -> list[str]:
    """get_or_guess_multiple_repository_names + check_multiple_repository_existence."""
    directory = host("/etc/cvmfs/repositories.d")
    present = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if not args:
        if len(present) != 1:
            raise usage("Please provide a repository name")
        return present
    names: list[str] = []
    for pattern in args:  # `ls --directory $repo_dir/$input_pattern`: split and globbed
        words = cvmfs_shell.split_words([f"{directory}/{pattern}"])
        matches = sorted(word for word in words if os.path.lexists(word))
        for name in [m.rsplit("/", 1)[-1] for m in matches] or [pattern]:
            if name not in names:
                names.append(name)
    for name in names:
        repo_name = name.split("/", 1)[0]
        if not repo_name or "*" in repo_name or not config_dir(repo_name).is_dir():
            raise Died(f"The repository {repo_name} does not exist.")
    return names


def tag_exists(repo: Repo, tag: str) -> bool:
    """check_tag_existence: ``get_tag_hash $repository_name $tag`` passes the tag unquoted."""
    words = cvmfs_shell.split_words([repo.fqrn, tag])
    try:
        return len(words) > 1 and any(t.name == words[1] for t in repo.tags())
    except Failure:  # tag_info failing prints nothing (2>/dev/null): "no such tag"
        return False


class Publish:
    """One repository of ``cvmfs_server_publish``'s loop."""

    def __init__(self, repo: Repo, options: Options) -> None:
        self.repo, self.options, self.name = repo, options, repo.fqrn

    def value(self, key: str) -> str:
        return self.repo.value(key)

    def is_true(self, key: str) -> bool:
        return self.value(key) == "true"

    def default(self, key: str, fallback: str) -> str:
        """``${KEY-fallback}``: the fallback only when KEY is unset (empty stays empty)."""
        value = self.repo.config.get(key)
        return fallback if value is None else value

    def common_flags(self) -> tuple[str, str]:
        """$(get_follow_http_redirects_flag), $(get_swissknife_proxy) (cvmfs_server_common.sh)."""
        redirects = "-L" if self.value("CVMFS_FOLLOW_REDIRECTS") == "yes" else ""
        proxy = self.value("CVMFS_SERVER_PROXY")
        return redirects, cvmfs_shell.substitute('echo "-@ $1"', [proxy]) if proxy else ""

    def commands(self, base_hash: str) -> tuple[str, str, str]:
        """(dirtab_command, sync_command, tag_command), word for word as the script builds them."""
        o, name, spool = self.options, self.name, self.value("CVMFS_SPOOL_DIR")
        redirects, proxy = self.common_flags()
        stratum0, upstream = self.value("CVMFS_STRATUM0"), self.value("CVMFS_UPSTREAM_STORAGE")
        hash_algorithm = self.default("CVMFS_HASH_ALGORITHM", "sha1")
        compression = o.compression or self.default("CVMFS_COMPRESSION_ALGORITHM", "default")
        wants_external = self.is_true("CVMFS_EXTERNAL_DATA") or o.force_external
        external = "-Y" if wants_external and not o.force_native else ""
        log_level = f"-z {self.value('CVMFS_LOG_LEVEL')}" if self.value("CVMFS_LOG_LEVEL") else ""
        manifest = f"{spool}/tmp/manifest"
        dirtab = " ".join([f"{SWISSKNIFE} dirtab", "-d", f"/cvmfs/{name}/.cvmfsdirtab", "-b", base_hash,
                           "-w", stratum0, proxy, "-t", f"{spool}/tmp", "-u", f"/cvmfs/{name}",
                           "-s", f"{spool}/scratch/current", o.verbosity])
        sync = " ".join([
            f"{SWISSKNIFE} sync", "-u", f"/cvmfs/{name}", "-s", f"{spool}/scratch/current",
            "-c", f"{spool}/rdonly", "-t", f"{spool}/tmp", "-b", base_hash, "-r", upstream, "-w", stratum0,
            "-o", manifest, "-e", hash_algorithm, "-Z", compression, "-N", name,
            "-K", self.value("CVMFS_PUBLIC_KEY"), redirects, proxy, o.authz_file, log_level, o.tweaks,
            external, "-W" if o.direct_io else "", o.verbosity])
        if o.tag_name:
            sync += f" -D {o.tag_name}"
        if o.description:
            sync += f" -J {o.description}"
        if self.repo.gateway:
            sync += f" -H /etc/cvmfs/keys/{name}.gw -P {spool}/session_token"
        sync += self.sync_flags()
        tag = " ".join([f"{SWISSKNIFE} tag_edit", "-r", upstream, "-w", stratum0, "-t", f"{spool}/tmp",
                        "-m", manifest, "-p", f"/etc/cvmfs/keys/{name}.pub", "-f", name, "-e", hash_algorithm,
                        proxy, redirects, "-x"])
        if o.tag_name:
            tag += f" -a {o.tag_name}"
        if o.description:
            tag += f' -D "{o.description}"'
        return dirtab, sync, tag

    def sync_flags(self) -> str:
        flags = ""
        if self.value("CVMFS_UNION_FS_TYPE"):
            flags += f" -f {self.value('CVMFS_UNION_FS_TYPE')}"
        legacy = self.value("CVMFS_GENERATE_LEGACY_BULK_CHUNKS")  # ${X:-$CVMFS_DEFAULT_X}
        if (legacy or self.value("CVMFS_DEFAULT_GENERATE_LEGACY_BULK_CHUNKS")) == "true":
            flags += " -O"
        if self.is_true("CVMFS_USE_FILE_CHUNKING"):
            flags += (f" -p -l {self.value('CVMFS_MIN_CHUNK_SIZE')} -a {self.value('CVMFS_AVG_CHUNK_SIZE')}"
                      f" -h {self.value('CVMFS_MAX_CHUNK_SIZE')}")
        for key, flag in (("CVMFS_AUTOCATALOGS", "-A"),):
            flags += f" {flag}" if self.is_true(key) else ""
        for key, flag in (("CVMFS_AUTOCATALOGS_MAX_WEIGHT", "-X"), ("CVMFS_AUTOCATALOGS_MIN_WEIGHT", "-M")):
            flags += f" {flag} {self.value(key)}" if self.value(key) else ""
        for key, flag in (("CVMFS_SERVER_USE_CATALOG_CACHE", "-G"), ("CVMFS_IGNORE_XDIR_HARDLINKS", "-i"),
                          ("CVMFS_INCLUDE_XATTRS", "-k")):
            flags += f" {flag}" if self.is_true(key) else ""
        if (self.value("CVMFS_ENFORCE_LIMITS") or self.value("CVMFS_DEFAULT_ENFORCE_LIMITS")) == "true":
            flags += " -E"
        flags += " -j" if self.is_true("CVMFS_ENABLE_MTIME_NS") else ""
        for key, flag in (("CVMFS_NESTED_KCATALOG_LIMIT", "-Q"), ("CVMFS_ROOT_KCATALOG_LIMIT", "-R"),
                          ("CVMFS_FILE_MBYTE_LIMIT", "-U"), ("CVMFS_NUM_UPLOAD_TASKS", "-0")):
            flags += f" {flag} {self.value(key)}" if self.value(key) else ""
        if self.options.manual_revision:
            flags += f" -v {self.options.manual_revision}"
        for key, flag in (("CVMFS_REPOSITORY_TTL", "-T"), ("CVMFS_MAXIMAL_CONCURRENT_WRITES", "-q")):
            flags += f" {flag} {self.value(key)}" if self.value(key) else ""
        flags += " -V" if self.value("CVMFS_VOMS_AUTHZ") else ""
        for key, flag in (("CVMFS_IGNORE_SPECIAL_FILES", "-g"), ("CVMFS_UPLOAD_STATS_DB", "-I"),
                          ("CVMFS_PRINT_STATISTICS", "-+stats")):
            flags += f" {flag}" if self.is_true(key) else ""
        return flags

    def sign_command(self) -> str:
        """sign_manifest (cvmfs_server_common.sh)."""
        name, spool = self.name, self.value("CVMFS_SPOOL_DIR")
        _, proxy = self.common_flags()
        command = " ".join([f"{SWISSKNIFE} sign", "-c", f"/etc/cvmfs/keys/{name}.crt",
                            "-k", f"/etc/cvmfs/keys/{name}.key", "-n", name,
                            "-u", self.value("CVMFS_STRATUM0"),
                            "-m", f"{spool}/tmp/manifest", "-t", f"{spool}/tmp", proxy,
                            "-r", self.value("CVMFS_UPSTREAM_STORAGE")])
        command += " -g" if self.is_true("CVMFS_GARBAGE_COLLECTION") else ""
        command += " -A" if self.is_true("CVMFS_CATALOG_ALT_PATHS") else ""
        chksum = f"/var/spool/cvmfs/{name}/reflog.chksum"  # get_reflog_checksum: a fixed path
        if host(chksum).is_file():
            command += f" -R {chksum}"
        return command

    def checks(self) -> bool:
        """The sanity checks that print a reason and skip this repository (retcode=1; continue)."""
        repo = self.repo
        try:
            manifest = repo.manifest()
        except Failure:
            print(f"Repository unavailable under {self.value('CVMFS_STRATUM0')}")
            return False
        try:
            expired = repo.whitelist_expired()
        except Failure:
            expired = True
        if expired:
            print(f"Repository whitelist for {self.name} is expired!")
            return False
        if not repo.lock.exists():
            print(f"Repository {self.name} is not in a transaction")
            return False
        revision = self.options.manual_revision
        if revision and not revision.isdigit():
            print(f"Invalid revision number: {revision}")
            return False
        if revision and int(revision) <= int(manifest["S"]):
            print(f"Current revision '{manifest['S']}' is ahead of manual revision number '{revision}'.")
            return False
        return True

    def refuse_what_is_not_emulated(self) -> None:
        if (self.repo.spool / "checkout").exists():
            raise Failure("the cvmfs_server double does not emulate publishing a checked-out branch")
        if self.is_true("CVMFS_VIRTUAL_DIR") or (self.repo.union / ".cvmfs").is_dir():
            raise Failure("the cvmfs_server double does not emulate the virtual .cvmfs directory")
        if self.value("CVMFS_AUTO_TAG_TIMESPAN"):
            raise Failure("the cvmfs_server double does not emulate auto-tag clean-up")

    def run(self) -> bool:
        """Publish this repository; False where the script sets retcode=1 and continues."""
        if not self.checks():
            return False
        self.refuse_what_is_not_emulated()
        o = self.options
        if not o.tag_name and self.is_true("CVMFS_AUTO_TAG"):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            o.tag_name, number = f"generic-{stamp}", 1
            while tag_exists(self.repo, o.tag_name):
                o.tag_name, number = f"generic_{number}-{stamp}", number + 1
            print(f"Using auto tag '{o.tag_name}'")
        dirtab, sync, tag = self.commands(base_hash=self.repo.manifest()["C"])
        if cvmfs_shell.run_command(dirtab) != 0:
            raise Died("Failed to apply .cvmfsdirtab")
        if cvmfs_shell.run_command(sync) != 0:
            raise Died(f"Synchronization failed\\n\\nExecuted Command:\\n{sync}")
        manifest = host(f"{self.value('CVMFS_SPOOL_DIR')}/tmp/manifest")
        if not manifest.is_file():
            raise Died(f"Manifest creation failed\\n\\nExecuted Command:\\n{sync}")
        if self.repo.gateway:
            self.repo.close_transaction()
            print("Changes submitted to repository gateway")
            return True
        print(f"Tagging {self.name}")
        if cvmfs_shell.run_command(tag) != 0:
            raise Died(f"Tagging failed\\n\\nExecuted Command:\\n{tag}")
        print("Flushing file system buffers")
        print("Signing new manifest")
        if cvmfs_shell.run_command(self.sign_command(), quiet_stdout=True) != 0:
            raise Died("Signing failed")
        print("Remounting newly created repository revision")
        self.repo.close_transaction()
        return True


def publish(args: list[str]) -> None:
    options, rest = parse_options(args)
    retcode = 0
    for name in repository_names(rest):
        if options.tag_name and not cvmfs_shell.has_no_space(options.tag_name):
            raise Died("Spaces are not allowed in tag names")
        repo = Repo.sourced(name.split("/", 1)[0])
        if options.tag_name and tag_exists(repo, options.tag_name):
            raise Died(f"Tag name '{options.tag_name}' is already in use.")
        if repo.value("CVMFS_REPOSITORY_TYPE") != "stratum0":
            raise Died("This is not a stratum 0 repository")
        if not Publish(repo, Options(**vars(options))).run():
            retcode = 1
    if retcode:
        raise Failure("", retcode)
