"""TEST DOUBLE of ``cvmfs_server tag`` and ``cvmfs_server rollback`` (cvmfs 2.12.0 @ ae7450ec).

Same pattern as :mod:`tests.support.cvmfs_server_publish_double`: the command strings are built as
the scripts build them, from the configuration as ``load_repo_config`` left it, and run with
``sh -c`` (:func:`tests.support.cvmfs_shell.run_command`); the ``cvmfs_swissknife`` they name is the
stand-in (:mod:`tests.support.swissknife_maintenance_double`,
:mod:`tests.support.swissknife_commands_double`). What the scripts let a shell evaluate is evaluated:

- ``tag`` (cvmfs_server_tag.sh ``cvmfs_server_tag``): ``getopts "a:c:m:h:r:fblxi:"``; one action
  (add ``-a``, remove ``-r`` (repeatable), inspect ``-i``, list ``-l``/``-b``, default list), else
  "Ambiguous parameters…"; list and inspect run ``tag_list``/``tag_info`` without a transaction
  (the inspected name unquoted); add and remove: "Tag name missing", ``echo "$tag_name" | grep -q
  -v " "`` ("Spaces are not allowed in tag names"), "Cannot change repository tags while in a
  transaction", then ``open_transaction`` with ``trap "close_transaction $name 0" EXIT``; add runs
  ``tag_edit … -a $tag_name`` (UNQUOTED) plus ``-D "$add_tag_description"`` (inside DOUBLE quotes:
  ``$(…)`` and backquotes run) and ``-h $add_tag_root_hash``, failing with exit 1 and no message of
  its own; remove asks (without ``-f``; no answer is "no", exit 1), then ``tag_edit … -d
  '$tag_names'`` (inside SINGLE quotes), "Did not remove anything"; both then ``sign_manifest``
  ("Failed to sign repo"). The reserved ``trunk``/``trunk-previous`` are refused by swissknife
  ("undo tags are managed internally", "… cannot be deleted").
- ``rollback`` (cvmfs_server_rollback.sh ``cvmfs_server_rollback``): ``getopts "t:f"``; not in a
  transaction, whitelist not expired ("Repository whitelist is expired!"); the target must exist
  (``check_tag_existence``, the name word-split: "Target tag '…' does not exist"; without ``-t``
  ``trunk-previous``: "More than one anonymous undo rollback is not supported…"); asks without
  ``-f``; ``tag_rollback … -n $target_tag`` (UNQUOTED) with ``sh -c`` ("Rollback failed…"),
  ``sign_manifest`` ("Signing failed"), the rdonly branch remounted on the new root hash.

Both leave no transaction open: the trap closes it on every exit, as the script's does (a SIGKILL
would leave the flag, as it would for the real script).
"""

from __future__ import annotations

import getopt
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import cvmfs_shell
from tests.support.cvmfs_repo_double import Repo
from tests.support.cvmfs_server_publish_double import (
    SWISSKNIFE,
    Died,
    Options,
    Publish,
    repository_names,
    tag_exists,
    usage,
)
from tests.support.cvmfs_storage_double import Failure


def parse(command: str, args: list[str], spec: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``getopts SPEC``: stops at the first non-option; a bad option is ``usage`` (exit 3)."""
    try:
        return getopt.getopt(args, spec)
    except getopt.GetoptError as error:
        raise usage(f"Command {command}: Unrecognized option: -{error.opt}") from None


def one_repository(args: list[str]) -> Repo:
    """check_parameter_count_with_guessing + get_or_guess_repository_name + load_repo_config."""
    if len(args) > 1:
        raise usage("Too many arguments")
    name = repository_names(args)[0].split("/", 1)[0]
    return Repo.sourced(name)


def ask(question: str) -> bool:
    """``read -p "$question" reply``: only ``y``/``Y`` goes ahead (end of input answers "")."""
    print(question, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().rstrip("\n") in ("y", "Y")


def common_checks(repo: Repo) -> None:
    """is_stratum0, not publishing, health_check -r (the mounts must be what a mount needs)."""
    if repo.value("CVMFS_REPOSITORY_TYPE") != "stratum0":
        raise Died("This is not a stratum 0 repository")
    repo.check_attachment()


@contextmanager
def transaction_of(repo: Repo, purpose: str) -> Iterator[None]:
    """``open_transaction`` under ``trap "close_transaction $name 0" EXIT HUP INT TERM``."""
    repo.lock.touch()
    try:
        yield
    finally:
        repo.close_transaction()
        repo.materialize()


def sign_command(repo: Repo, manifest: str = "") -> str:
    command = Publish(repo, Options()).sign_command()
    if manifest:
        command = command.replace(f" -m {repo.value('CVMFS_SPOOL_DIR')}/tmp/manifest ", f" -m {manifest} ")
    return command


def _swissknife_base(repo: Repo, command: str) -> str:
    """``$(__swissknife_cmd dbg) <command> -w $CVMFS_STRATUM0 $(get_swissknife_proxy) -t …/tmp
    -p /etc/cvmfs/keys/${name}.pub -f $name``."""
    _, proxy = Publish(repo, Options()).common_flags()
    return " ".join([f"{SWISSKNIFE} {command}", "-w", repo.value("CVMFS_STRATUM0"), proxy,
                     "-t", f"{repo.value('CVMFS_SPOOL_DIR')}/tmp", "-p", f"/etc/cvmfs/keys/{repo.fqrn}.pub",
                     "-f", repo.fqrn])


def _edit_base(repo: Repo) -> str:
    publish = Publish(repo, Options())
    redirects, _ = publish.common_flags()
    spool = repo.value("CVMFS_SPOOL_DIR")
    return " ".join([_swissknife_base(repo, "tag_edit"), "-r", repo.value("CVMFS_UPSTREAM_STORAGE"),
                     "-m", f"{spool}/tmp/manifest", "-b", repo.manifest()["C"],
                     "-e", publish.default("CVMFS_HASH_ALGORITHM", "sha1"), redirects])


def tag(args: list[str]) -> None:
    pairs, rest = parse("tag", args, "a:c:m:h:r:fblxi:")
    tag_name, description, root_hash, removed = "", "", "", []
    actions: dict[str, bool] = {}
    force = machine = False
    for flag, value in pairs:
        if flag == "-a":
            tag_name, actions["add"] = value, True
        elif flag == "-m":
            description = value
        elif flag == "-h":
            root_hash = value
        elif flag == "-r":
            removed.append(value)
            actions["remove"] = True
        elif flag == "-i":
            tag_name, actions["inspect"] = value, True
        elif flag in ("-l", "-b"):
            actions["list" if flag == "-l" else "branches"] = True
        force, machine = force or flag == "-f", machine or flag == "-x"
    repo = one_repository(rest)
    if len(actions) > 1:
        raise Died("Ambiguous parameters. Please either add, remove, inspect or list tags.")
    common_checks(repo)
    if not actions or "list" in actions or "branches" in actions:
        command = _swissknife_base(repo, "tag_list") + (" -x" if machine else "")
        command += " -B" if "branches" in actions else ""
        raise Failure("", cvmfs_shell.run_command(command))
    if "inspect" in actions:
        command = _swissknife_base(repo, "tag_info") + f" -n {tag_name}" + (" -x" if machine else "")
        raise Failure("", cvmfs_shell.run_command(command))
    if not tag_name and not removed:
        raise Died("Tag name missing")
    if cvmfs_shell.substitute('echo "$1" | grep -q -v " " && echo ok', [tag_name]) != "ok":
        raise Died("Spaces are not allowed in tag names")
    if (repo.spool / "checkout").exists():
        raise Died("Cannot modify tags when checked out on another branch")
    if repo.lock.exists():
        raise Died("Cannot change repository tags while in a transaction")
    with transaction_of(repo, "tag manipulation"):
        if "add" in actions:
            command = _edit_base(repo) + f" -a {tag_name}"
            command += f' -D "{description}"' if description else ""
            command += f" -h {root_hash}" if root_hash else ""
            if cvmfs_shell.run_command(command) != 0:
                raise Failure("", 1)
        else:
            names = " ".join(removed)
            if not force:
                print(f"You are about to remove these tags from {repo.fqrn}:")
                for name in cvmfs_shell.split_words([names]):
                    print(f"* {name}")
                print()
                if not ask("Are you sure (y/N)? "):
                    raise Failure("", 1)
            if cvmfs_shell.run_command(_edit_base(repo) + f" -d '{names}'") != 0:
                raise Died("Did not remove anything")
        if cvmfs_shell.run_command(sign_command(repo), quiet_stdout=True) != 0:
            raise Died("Failed to sign repo")


def rollback(args: list[str]) -> None:
    pairs, rest = parse("rollback", args, "t:f")
    target = next((value for flag, value in reversed(pairs) if flag == "-t"), "")
    force = any(flag == "-f" for flag, _ in pairs)
    repo = one_repository(rest)
    common_checks(repo)
    if (repo.spool / "checkout").exists():
        raise Died("Can't rollback when checked out on a branch")
    try:
        repo.manifest()
    except Failure:
        raise Died(f"Repository unavailable under {repo.value('CVMFS_STRATUM0')}") from None
    try:
        expired = repo.whitelist_expired()
    except Failure:
        expired = True
    if expired:
        raise Died("Repository whitelist is expired!")
    if repo.lock.exists():
        raise Died("Cannot rollback a repository in a transaction")
    if not target and not tag_exists(repo, "trunk-previous"):
        raise Died("More than one anonymous undo rollback is not supported. Please specify a tag name (-t)")
    if target and not tag_exists(repo, target):
        raise Died(f"Target tag '{target}' does not exist")
    if not force:
        question = (f"You are about to ROLLBACK to {target} AS THE LATEST REVISION!" if target
                    else "You are about to UNDO your last published revision!") + "  Are you sure (y/N)? "
        if not ask(question):
            raise Failure("", 1)
    base_hash = repo.manifest()["C"]
    publish = Publish(repo, Options())
    spool = repo.value("CVMFS_SPOOL_DIR")
    command = " ".join([_swissknife_base(repo, "tag_rollback"), "-r", repo.value("CVMFS_UPSTREAM_STORAGE"),
                        "-m", f"{spool}/tmp/manifest", "-b", base_hash,
                        "-e", publish.default("CVMFS_HASH_ALGORITHM", "sha1")])
    if target:
        command += f" -n {target}"
    print(f"Rolling back repository (leaving behind {base_hash})", flush=True)
    with transaction_of(repo, "rollback"):
        if cvmfs_shell.run_command(command) != 0:
            raise Died(f"Rollback failed\\n\\nExecuted Command:\\n{command}")
        if cvmfs_shell.run_command(sign_command(repo), quiet_stdout=True) != 0:
            raise Died("Signing failed")
        print("Flushing file system buffers")

