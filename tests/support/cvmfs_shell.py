"""TEST DOUBLE support: the places where cvmfs 2.12 lets a shell evaluate text, run by a real shell.

The cvmfs_server double (and its ``cvmfs_swissknife`` stand-in) never imitates shell expansion in
Python. Wherever the real tools hand text to ``/bin/sh``, the same text goes to the shell named by
``CVMFS_DOUBLE_SHELL`` (default ``/bin/sh``: dash on Debian; on the AlmaLinux publisher image
``/bin/sh`` is bash). The shell always runs under the name ``sh``, as ``/bin/sh`` and ``sh -c`` do
for the real tools, so bash runs in its POSIX mode there as here; and with ``LC_ALL=C``, which
cvmfs_server_prelude.sh exports to everything it starts.

Where each evaluation happens in cvmfs 2.12.0 (github.com/cvmfs/cvmfs @ ae7450ec):

- :func:`run_command` — ``$user_shell "$sync_command"`` and the other command strings of
  cvmfs_server_publish.sh; ``get_user_shell`` (cvmfs_server_common.sh) is ``sh -c`` when the caller
  is ``CVMFS_USER`` (the publisher runs as root with ``CVMFS_USER=root``).
- :func:`split_words` — ``$@`` unquoted: ``cvmfs_server_transaction``/``cvmfs_server_abort``
  (cvmfs_server_transaction.sh, cvmfs_server_abort.sh) pass it so to cvmfs_publish; the words are
  field-split and glob-expanded, not evaluated.
- :func:`has_no_space` — ``cvmfs_server_publish``'s tag name check, ``echo`` of the unquoted name
  piped to ``grep -q -v " "``.
- :func:`substitute` — ``$(...)`` command substitutions spliced into command strings
  (``get_swissknife_proxy``, cvmfs_server_common.sh).
- :func:`die` — ``die`` (cvmfs_server_prelude.sh): its message is echoed UNQUOTED (field
  splitting, globbing), with ``echo`` where ``echo -n -e`` prints ``-e`` (dash: backslash escapes
  are interpreted anyway), otherwise ``echo -e``; then exit 1.
- :func:`source_repo_config` — ``load_repo_config`` (cvmfs_server_common.sh) sources
  ``server.conf`` and then ``client.conf`` (Stratum 0) or ``replica.conf``, in the script's own
  shell, under ``set -e`` (cvmfs_server_prelude.sh); ``/etc/cvmfs/server.local`` is sourced once
  before (cvmfs_server_coda.sh), then the ``CVMFS_DEFAULT_*`` values are set.
- :func:`read_options` — ``BashOptionsManager::ParsePath`` (cvmfs/options.cc), how the C++ tools
  read every configuration file (cvmfs_publish: server.local, server.conf, replica.conf,
  publish/settings.cc; the S3 uploader: the S3 config file, upload_s3.cc): ``/bin/sh`` reads
  ``cd "<dir>"`` and every line of the file on its stdin, then ``echo $PARAM`` (unquoted) for every
  line that ``SanitizeParameterAssignment`` accepts; each value is the next line of the shell's
  output, then ``@fqrn@``/``@org@`` templates are replaced (``OptionsTemplateManager``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

SHELL_ENV = "CVMFS_DOUBLE_SHELL"

# cvmfs_server_coda.sh sets these after sourcing server.local and before any load_repo_config.
_CODA_DEFAULTS = ("CVMFS_DEFAULT_GENERATE_LEGACY_BULK_CHUNKS=false\n"
                  "CVMFS_DEFAULT_ENFORCE_LIMITS=false\n")


def shell() -> str:
    return os.environ.get(SHELL_ENV) or "/bin/sh"


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", **(extra or {})}


def _sh(script: str, args: Sequence[str] = (),
        stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
    """``sh -c SCRIPT sh ARGS...``: the script sees ``ARGS`` as ``$1``... (never spliced into it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.run(["sh", "-c", script, "sh", *args], executable=shell(), env=environment(),
                          check=False, stdout=stdout)


def run_command(command: str, quiet_stdout: bool = False) -> int:
    """``sh -c "$command"`` (the whole string is the script), output passed through; its status."""
    sys.stdout.flush()
    sys.stderr.flush()
    done = subprocess.run(["sh", "-c", command], executable=shell(), env=environment(), check=False,
                          stdout=subprocess.DEVNULL if quiet_stdout else None)
    return done.returncode


def split_words(words: Sequence[str]) -> list[str]:
    """What ``$@`` unquoted becomes: field splitting and pathname expansion, no evaluation."""
    done = _sh('for word in $@; do printf "%s\\0" "$word"; done', words, stdout=subprocess.PIPE)
    return [os.fsdecode(word) for word in done.stdout.split(b"\0")[:-1]]


def has_no_space(text: str) -> bool:
    """``echo $text | grep -q -v " "``: some output line without a space (an empty line counts)."""
    return _sh('echo $1 | grep -q -v " "', [text]).returncode == 0


def substitute(script: str, args: Sequence[str] = ()) -> str:
    """The value of ``$(script)``: its output without trailing newlines."""
    done = _sh(script, args, stdout=subprocess.PIPE)
    return os.fsdecode(done.stdout.rstrip(b"\n"))


def die(message: str) -> None:
    """Print ``message`` to stderr as the scripts' ``die`` does (the caller then exits 1)."""
    _sh('if [ x"$(echo -n -e)" = x"-e" ]; then echo $1; else echo -e $1; fi', [message],
        stdout=sys.stderr.fileno())


class ShellExit(Exception):
    """The script's shell exited while sourcing a configuration file (``set -e``, ``exit``, syntax)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the shell exited with status {code} while sourcing the configuration")
        self.code = code


def source_repo_config(server_local: Path, server_conf: Path, client_conf: Path, replica_conf: Path,
                       names: Sequence[str]) -> dict[str, str | None]:
    """The shell variables ``names`` after load_repo_config; None for an unset one."""
    script = (
        "set -e\n"
        '__double_dump=$1 __double_local=$2 __double_server=$3 __double_client=$4 __double_replica=$5\n'
        'if [ -f "$__double_local" ]; then if [ -r "$__double_local" ]; then . "$__double_local"; '
        'else echo "WARNING: cannot read /etc/cvmfs/server.local" >&2; fi; fi\n'
        + _CODA_DEFAULTS +
        '. "$__double_server"\n'
        'if [ x"$CVMFS_REPOSITORY_TYPE" = x"stratum0" ]; then . "$__double_client"; '
        'else . "$__double_replica"; fi\n'
        + "".join(f'printf "%s\\0%s\\0" "${{{name}+set}}" "${{{name}-}}" >> "$__double_dump"\n'
                  for name in names)
    )
    for name in names:
        assert name.replace("_", "").isalnum(), name
    with tempfile.NamedTemporaryFile(prefix="cvmfs-double-config-") as dump:
        done = _sh(script, [dump.name, str(server_local), str(server_conf), str(client_conf),
                            str(replica_conf)])
        if done.returncode != 0:
            raise ShellExit(done.returncode)
        fields = Path(dump.name).read_bytes().split(b"\0")
    values: dict[str, str | None] = {}
    for index, name in enumerate(names):
        is_set, value = fields[2 * index], fields[2 * index + 1]
        values[name] = os.fsdecode(value) if is_set else None
    return values


def _trim(text: bytes) -> bytes:
    return text.strip(b" \t")


def _parameter(line: bytes) -> bytes:
    """``OptionsManager::SanitizeParameterAssignment``: the parameter a line assigns, or b""."""
    line = _trim(line.split(b"#", 1)[0])
    tokens = line.split(b"=")
    if not line or len(tokens) < 2:
        return b""
    parameter = _trim(tokens[0])
    for prefix in (b"readonly ", b"export ", b"eval "):  # TrimParameter strips one of them
        if parameter.startswith(prefix):
            parameter = _trim(parameter[len(prefix):])
            break
    return b"" if b" " in parameter else parameter


def _templates(value: str, templates: Mapping[str, str]) -> str:
    """``OptionsTemplateManager::ParseString``: ``@name@`` replaced; unknown names stay."""
    result, stock, open_at = "", "", False
    for char in value:
        if not open_at:
            if char == "@":
                open_at = True
            else:
                result += char
        elif char == "@":
            result += templates.get(stock, f"@{stock}@")
            stock, open_at = "", False
        else:
            stock += char
    return result + (f"@{stock}" if open_at else "")


def read_options(path: Path, templates: Mapping[str, str] | None = None) -> dict[str, str]:
    """``BashOptionsManager::ParsePath``: the parameters of one file; {} when it cannot be opened."""
    try:
        text = path.read_bytes()
    except OSError:
        return {}
    lines = text.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    parameters = [parameter for parameter in map(_parameter, lines) if parameter]
    stream = (b'cd "' + os.fsencode(path.parent) + b'"\n' + b"".join(line + b"\n" for line in lines)
              + b"".join(b"echo $" + parameter + b"\n" for parameter in parameters))
    sys.stdout.flush()
    done = subprocess.run(["sh"], executable=shell(), env=environment(), input=stream,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    output = done.stdout.split(b"\n")
    values: dict[str, str] = {}
    for index, parameter in enumerate(parameters):  # GetLineFd: one line each, "" after the end
        line = output[index] if index < len(output) else b""
        values[os.fsdecode(parameter)] = _templates(os.fsdecode(line), templates or {})
    return values
