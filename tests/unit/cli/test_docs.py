"""docs/cli.md against the parser and the exit codes: every command, option and exit code is
documented, and the page names nothing the program does not have."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from cvmfs_operator.cli.kubectl_cvmfs import parser
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit

DOC = (Path(__file__).resolve().parents[3] / "docs" / "cli.md").read_text()
CODE_SPANS = " ".join(re.findall(r"`[^`\n]+`", DOC))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser.build()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options() -> set[str]:
    return {o for sub in subcommands().values() for a in sub._actions for o in a.option_strings}


def test_every_command_is_documented() -> None:
    missing = [name for name in subcommands() if not re.search(rf"`{name}[ `]", DOC)]
    assert not missing


def test_every_option_is_documented_and_every_documented_option_exists() -> None:
    mentioned = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", CODE_SPANS))
    assert sorted(o for o in options() if o not in mentioned) == []
    assert sorted(mentioned - options()) == []


def test_the_exit_code_table_is_the_exit_codes_in_order() -> None:
    rows = [int(code) for code in re.findall(r"^\| (\d+) \|", DOC.split("## Exit codes")[1], re.MULTILINE)]
    assert rows == sorted(e.value for e in Exit)


def test_the_command_lines_on_the_page_parse() -> None:
    block = DOC.split("```sh\n")[1].split("```")[0].replace("\\\n", " ")
    commands = [line for line in block.splitlines() if line.startswith("kubectl cvmfs")]
    assert len(commands) == 4
    for command in commands:
        parser.build().parse_args(shlex.split(command)[2:])
