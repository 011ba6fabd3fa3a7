"""A TEST DOUBLE of ``cvmfs_swissknife`` (not CernVM-FS): what cvmfs_server's ``publish`` runs.

Run through ``tests/support/bin/cvmfs_swissknife``, which the double's ``sh -c "$sync_command"``
finds on PATH exactly as the real ``sh -c`` finds ``/usr/bin/cvmfs_swissknife``.

The command line is parsed as swissknife_main.cc parses it (``main``): the option string is the
command's ``GetParams()`` (each key, followed by ``:`` unless it is a switch) plus the generic
``+:``, handed to glibc ``getopt`` from ``argv[1]`` on. glibc permutes: words that are not options
(the command name first of all) are skipped and never looked at, an option word after them is still
an option, ``--`` ends the options, and with ``POSIXLY_CORRECT`` set parsing stops at the first
non-option (the command name: nothing is parsed). ``gnu_getopt`` has these semantics. A repeated
option keeps its last value. An unknown option or a missing option argument prints getopt's message
and the usage and exits 1; then every mandatory parameter must be there, else
``parameter -%c missing`` and exit 1.

Parameter lists, in the order of the sources (the first missing mandatory one is reported):
``CommandApplyDirtab::GetParams`` and ``CommandSync::GetParams`` (cvmfs/swissknife_sync.h);
``tag_edit`` = ``InsertCommonParameters`` + ``CommandEditTag::GetParams``
(cvmfs/swissknife_history.cc); ``CommandSign::GetParams`` (cvmfs/swissknife_sign.h).

Every call is appended to the double's log (``CVMFS_DOUBLE_LOG``) as a ``swissknife`` event: the
argv, the options parsed (switches as ``true``), the skipped words, the exit code and the first
error line. The storage work each command then does is in
:mod:`tests.support.swissknife_commands_double`.
"""

from __future__ import annotations

import getopt
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from tests.support.cvmfs_storage_double import Failure, log_path

PROGRAM = "cvmfs_swissknife"


@dataclass(frozen=True)
class Parameter:
    key: str
    mandatory: bool = False
    switch: bool = False


def _params(mandatory: str, optional: str, switches: str) -> tuple[Parameter, ...]:
    return (*(Parameter(k, mandatory=True) for k in mandatory), *(Parameter(k) for k in optional),
            *(Parameter(k, switch=True) for k in switches))


def _ordered(*groups: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
    return tuple(p for group in groups for p in group)


PARAMETERS: dict[str, tuple[Parameter, ...]] = {
    # swissknife_sync.h CommandApplyDirtab::GetParams
    "dirtab": _params("dusbwt", "@", "x"),
    # swissknife_sync.h CommandSync::GetParams
    "sync": _ordered(_params("bcorstuwKN", "aefhlq0vzFMQRTUDJXZS", "GdigkjmnpOxyAELVYWBI"),
                     _params("", "PH@", "")),
    # swissknife_history.cc InsertCommonParameters + CommandEditTag::GetParams
    "tag_edit": _ordered(_params("wt", "pfrmbe", ""), _params("", "", "L"), _params("", "P@", ""),
                         _params("", "daDBPh", "x")),
    # swissknife_sign.h CommandSign::GetParams
    "sign": _params("murt", "RcksnM@", "bgAe"),
    # swissknife_history.cc InsertCommonParameters + CommandInfoTag / CommandListTags / CommandRollbackTag
    "tag_info": _ordered(_params("wt", "pfrmbe", "L"), _params("", "P@", ""), _params("n", "", "x")),
    "tag_list": _ordered(_params("wt", "pfrmbe", "L"), _params("", "P@", "xB")),
    "tag_rollback": _ordered(_params("wt", "pfrmbe", "L"), _params("", "P@n", "")),
    # swissknife_gc.cc CommandGc::GetParams; swissknife_check.h CommandCheck::GetParams
    "gc": _params("runR", "hzktLN@", "dlI"),
    "check": _params("r", "ntlskzNR@", "cdL"),
    # swissknife_sync.h CommandCreate::GetParams, CommandUpload::GetParams
    "create": _params("otrnR", "laV", "vz"),
    "upload": _params("ior", "a", ""),
}
GENERIC = "+"  # Command::kGenericParam, e.g. -+stats


@dataclass
class Parsed:
    options: dict[str, str | bool]
    skipped: list[str]


class Usage(Failure):
    """Printed like getopt's message followed by ``Usage()``; exit 1."""


def option_string(params: tuple[Parameter, ...]) -> str:
    return "".join(p.key + ("" if p.switch else ":") for p in params) + GENERIC + ":"


def parse(argv: list[str], params: tuple[Parameter, ...]) -> Parsed:
    """``argv`` = the whole command line after the program name (``argv[1:]``, command first)."""
    # glibc stops at the first non-option when POSIXLY_CORRECT is set at all (Python: when non-empty)
    posix = "+" if "POSIXLY_CORRECT" in os.environ else ""
    try:
        pairs, skipped = getopt.gnu_getopt(argv, posix + option_string(params))
    except getopt.GetoptError as error:
        long_form = error.msg.startswith("option --")  # glibc getopt: in "--x" the option is '-'
        key = "-" if long_form else error.opt
        if "requires argument" in error.msg and not long_form:
            raise Usage(f"{PROGRAM}: option requires an argument -- '{key}'") from None
        raise Usage(f"{PROGRAM}: invalid option -- '{key}'") from None
    switches = {p.key for p in params if p.switch}
    options: dict[str, str | bool] = {}
    for flag, value in pairs:
        key = flag[1:]
        if key != GENERIC:
            options[key] = True if key in switches else value
    for param in params:
        if param.mandatory and param.key not in options:
            raise Failure(f"parameter -{param.key} missing")
    return Parsed(options, skipped[1:])


def _log(event: dict[str, Any]) -> None:
    with log_path().open("a") as log:
        log.write(json.dumps(event) + "\n")


def main(argv: list[str]) -> int:
    from tests.support.swissknife_commands_double import COMMANDS as PUBLISH_COMMANDS
    from tests.support.swissknife_gc_double import COMMANDS as GC_COMMANDS
    from tests.support.swissknife_maintenance_double import COMMANDS as MAINTENANCE_COMMANDS

    COMMANDS = {**PUBLISH_COMMANDS, **MAINTENANCE_COMMANDS, **GC_COMMANDS}

    event: dict[str, Any] = {"event": "swissknife", "argv": argv, "pid": os.getpid()}
    code = 0
    try:
        if not argv or argv[0] not in PARAMETERS:
            raise Usage(f"{PROGRAM} double: unknown or unsupported command {argv[:1]}")
        event["command"] = argv[0]
        parsed = parse(argv, PARAMETERS[argv[0]])
        event.update(options=parsed.options, skipped=parsed.skipped)
        COMMANDS[argv[0]](parsed.options)
    except Failure as failure:
        message = str(failure)
        if isinstance(failure, Usage):
            message += f"\nUsage: {PROGRAM} <command> [options]  (TEST DOUBLE)"
        print(message, file=sys.stderr)
        code = failure.code
        event["error"] = str(failure).splitlines()[0] if str(failure) else ""
    event["code"] = code
    _log(event)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
