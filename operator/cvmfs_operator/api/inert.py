"""Values that reach ``cvmfs_server``'s shell evaluation: what is allowed, and how it is made inert.

The cvmfs 2.12 server scripts evaluate many of their inputs with a shell (docs/security.md has the
audit, with the script and function of each finding):

- ``publish`` appends the tag description UNQUOTED to the ``cvmfs_swissknife sync`` command string
  and, inside double quotes, to the ``tag_edit`` command string, and runs both with ``sh -c``
  (cvmfs_server_publish.sh, ``$user_shell "$sync_command"``); swissknife then parses its argv with
  a permuting getopt (swissknife_main.cc), so a word starting with ``-`` becomes an option;
- ``transaction``/``abort`` pass ``$@`` unquoted to cvmfs_publish: the gateway lease path is
  field-split and glob-expanded;
- ``server.conf`` and ``client.conf`` are sourced by the shell (``load_repo_config``) and their
  values spliced unquoted into further ``sh -c`` strings (``-w $stratum0``, ``-r $upstream``);
- every configuration file, ``s3.conf`` included, is read by the C++ tools by feeding its lines to
  ``/bin/sh`` and reading each parameter back with ``echo $PARAM`` (options.cc ``ParsePath``).

No encoding survives both the unquoted and the double-quoted evaluation of the description for
characters such as ``(`` (a backslash is removed by one and kept by the other), so descriptions are
limited to characters that are literal in both; the rules here are the single source for the CRD
(tests check that its CEL rules agree), the operator's own validation and the publisher.
"""

from __future__ import annotations

import re

# Literal unquoted, literal inside double quotes, not a glob, not a word separator except space.
DESCRIPTION_CHARACTERS = "letters A-Z a-z, digits 0-9, space and . , : _ + = @ / % -"
DESCRIPTION = re.compile(r"^[A-Za-z0-9 .,:_+=@/%-]*$")
DESCRIPTION_MAX = 1024  # spec.tag.description; the operator adds at most ~400 inert characters
PUBLISHED_DESCRIPTION_MAX = 2048  # what the publisher accepts, the operator's suffix included
_OPTION_WORD = re.compile(r"(^| )-[^ ]")

# What a value may hold when it is spliced unquoted into a `sh -c` string or expanded from `$@`.
BARE_CHARACTERS = "A-Z a-z 0-9 . _ % + = @ , : / -"
BARE = re.compile(r"^[A-Za-z0-9._%+=@,:/-]+$")

# A configuration value read back with `echo $PARAM` (after we single-quote it in the file): field
# splitting, globbing, dash's echo escapes and echo's own options would change these.
_ECHO_CHANGES = re.compile(r"[\s\\*?\[]")


def description_error(text: str, max_length: int = DESCRIPTION_MAX) -> str | None:
    """Why ``text`` cannot be a tag description, or None when cvmfs_server records it literally."""
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    if not DESCRIPTION.fullmatch(text):
        bad = sorted({c for c in text if not DESCRIPTION.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad[:8])
        return (f"contains {shown}; only {DESCRIPTION_CHARACTERS} are allowed "
                "(cvmfs_server evaluates the description with a shell)")
    if not text.strip(" "):
        return "must contain a non-space character"
    if _OPTION_WORD.search(text):
        return ("must not contain a word starting with '-' "
                "(cvmfs_swissknife would read it as an option)")
    return None


def gateway_sync_argument(description: str) -> str:
    """The description for ``publish -m`` when the upstream is a gateway.

    There the only evaluation is the unquoted one in the sync command (tag_edit never runs), and
    swissknife sends its ``-J`` argument to the gateway: escaping the spaces keeps it one word, so
    the whole description arrives. Without a gateway the double-quoted tag_edit copy is the one
    recorded and the text is passed as it is (``\\ `` would be stored with its backslash).
    """
    return description.replace(" ", "\\ ")


def bare_error(value: str) -> str | None:
    """Why ``value`` may not be spliced unquoted into a shell command, or None."""
    if BARE.fullmatch(value):
        return None
    return f"may contain only {BARE_CHARACTERS} (cvmfs_server evaluates it with a shell)"


def gateway_path_error(path: str) -> str | None:
    """Why ``path`` cannot be a gateway lease path (``transaction <fqrn>/<path>`` expands ``$@``)."""
    if path == "/":
        return None
    return bare_error(path)


def config_value_error(value: str) -> str | None:
    """Why a secret cannot go into a cvmfs configuration file intact, or None."""
    if _ECHO_CHANGES.search(value) or value.startswith("-"):
        return ("contains whitespace, a backslash, *, ? or [, or starts with '-': cvmfs reads "
                "configuration files through a shell (`echo $PARAM`), which would change it")
    return None


def config_quote(value: str) -> str:
    """``value`` as the right-hand side of ``KEY=value`` in a file the shell evaluates."""
    if not value:
        return '""'  # the spelling cvmfs documents for "omit the header" (CVMFS_S3_X_AMZ_ACL)
    if BARE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
