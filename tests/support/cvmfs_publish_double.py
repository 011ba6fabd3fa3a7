"""TEST DOUBLE of ``cvmfs_server transaction`` and ``abort``: the shell wrapper, then cvmfs_publish.

``cvmfs_server_transaction() { $(__publish_cmd dbg) transaction $@ }`` (cvmfs_server_transaction.sh;
``abort`` likewise, cvmfs_server_abort.sh): the dispatcher at the end of cvmfs_server_coda.sh passes
the arguments intact (``eval ... '"$@"'``), but ``$@`` is UNQUOTED here, so they are field-split
and glob-expanded (:func:`tests.support.cvmfs_shell.split_words`) before /usr/bin/cvmfs_publish
sees them.

cvmfs_publish then parses them like ``Command::ParseOptions`` (publish/command.cc): glibc
``getopt_long`` from ``argv[2]``, permuting, long options by unique prefix, ``opterr = 0``; an
unknown option or a missing argument is "Invocation error: <cmd>: unrecognized parameter '<word>'"
(publish/main.cc, exit 1); the words left over are the plain arguments and only the first is used.

- transaction (publish/cmd_transaction.cc ``CmdTransaction::Main``): ``<fqrn>[/<lease path>]``,
  without one the single repository configured (settings.cc ``GetSingleAlias``); EIO when the
  whitelist cannot be loaded or is expired, EEXIST when a transaction is open; with a gateway the
  double writes a made-up ``session_token`` (no lease is taken).
- abort (publish/cmd_abort.cc ``CmdAbort::Main``, repository_abort.cc ``Publisher::Abort``): a
  path after the name is ignored; without ``-f`` it reads an answer from stdin and goes ahead on
  ``y``/``Y`` or at end of input, else exits EINTR; not in a transaction: EINVAL (after removing a
  stale ``session_token``); otherwise the scratch area is dropped and the published tree shown again.
"""

from __future__ import annotations

import errno
import getopt
import hashlib
import os
import shutil
import sys

from tests.support.cvmfs_repo_double import Repo
from tests.support.cvmfs_shell import split_words
from tests.support.cvmfs_storage_double import Failure, host

# (short options, long options) of CmdTransaction::GetParams / CmdAbort::GetParams
TRANSACTION_PARAMS = ("t:T:U:V:", ["retry-timeout=", "template=", "template-from=", "template-to="])
ABORT_PARAMS = ("f", ["force"])


def parse(command: str, words: list[str], params: tuple[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    try:
        pairs, plain = getopt.gnu_getopt(words, *params)
    except getopt.GetoptError as error:  # glibc names argv[optind - 1]: the word holding the option
        long_form = error.msg.startswith("option --")
        word = next((w for w in words if (w.startswith(f"--{error.opt}") if long_form else
                                          w.startswith("-") and not w.startswith("--") and error.opt in w)),
                    error.opt)
        raise Failure(f"Invocation error: {command}: unrecognized parameter '{word}'") from None
    short_of = {"--retry-timeout": "-t", "--template": "-T", "--template-from": "-U",
                "--template-to": "-V", "--force": "-f"}
    return {short_of.get(flag, flag): value for flag, value in pairs}, plain


def single_alias() -> str:
    directory = host("/etc/cvmfs/repositories.d")
    names = sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []
    if not names:
        raise Failure(f"Invocation error: no repositories available in {directory}")
    if len(names) > 1:
        raise Failure(f"Invocation error: multiple repositories available in {directory}:\n  "
                      + "\n  ".join(names))
    return names[0]


def transaction(args: list[str]) -> None:
    options, plain = parse("transaction", split_words(args), TRANSACTION_PARAMS)
    target = plain[0] if plain else ""
    fqrn, _, lease_path = target.partition("/")
    repo = Repo.parsed(fqrn or single_alias())
    if {"-T", "-U", "-V"} & options.keys():
        raise Failure("the cvmfs_server double does not emulate template transactions")
    try:
        expired = repo.whitelist_expired()
        repo.manifest()
    except Failure as failure:
        raise Failure(str(failure), errno.EIO) from None
    if expired:  # the whitelist parser already refuses an expired one while loading it
        raise Failure("cannot load whitelist [expired whitelist]", errno.EIO)
    if repo.lock.exists():
        raise Failure(f"CernVM-FS transaction error: Repository {repo.fqrn} is already in a transaction",
                      errno.EEXIST)
    if repo.gateway:
        token = repo.spool / "session_token"
        token.write_text(f"double-lease-{hashlib.sha1(os.urandom(8)).hexdigest()[:16]}")
        os.chmod(token, 0o600)
    repo.lock.touch()
    print(f"Transaction open for {repo.fqrn}{'/' + lease_path if lease_path else ''}")


def abort(args: list[str]) -> None:
    options, plain = parse("abort", split_words(args), ABORT_PARAMS)
    fqrn = plain[0].split("/", 1)[0] if plain else ""
    repo = Repo.parsed(fqrn or single_alias())
    if "-f" not in options:
        print("You are about to DISCARD ALL CHANGES OF THE CURRENT TRANSACTION for "
              f"{repo.fqrn}!  Are you sure (y/N)? ", end="", flush=True)
        answer = sys.stdin.readline(2)
        if answer and answer[0] not in "yY":
            raise Failure("", errno.EINTR)
    if not repo.lock.exists():
        (repo.spool / "session_token").unlink(missing_ok=True)
        raise Failure(f"Repository {repo.fqrn} is not in a transaction", errno.EINVAL)
    for child in (repo.spool / "scratch" / "current").iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    repo.materialize()
    repo.close_transaction()
    print(f"Transaction of {repo.fqrn} aborted")
