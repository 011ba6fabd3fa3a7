"""A real terminal for tests: a tmux session on a private socket, typed into and read like a user
would. The shell in it is an interactive bash with job control, so Ctrl-C reaches only the command
in the foreground, as in a user's terminal.

Async, because the tests' API emulator serves from the test's event loop: every tmux call is a
child process awaited with ``asyncio``, never a blocking ``subprocess.run``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour and style escape codes
EXIT_LINE = re.compile(r"^EXIT=(\d+)$", re.MULTILINE)


def tmux_or_skip() -> str:
    """The tmux binary; the test skips only when it is not installed (.ci/run installs it)."""
    path = shutil.which("tmux")
    if path is None:
        pytest.skip("tmux is not installed (apt-get install tmux; .ci/run installs it when it can)")
    return path


class Terminal:
    """One tmux session, ``width`` x ``height``, running ``bash`` with the given environment."""

    def __init__(self, env: dict[str, str], width: int = 120, height: int = 40) -> None:
        self.tmux = tmux_or_skip()
        # A private server: a short socket path (sun_path is ~100 bytes), no user configuration.
        self.socket = Path(tempfile.mkdtemp(prefix="tmux-", dir="/tmp")) / "s"
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env.update({"PS1": "$ ", "TERM": "xterm-256color", "HISTFILE": "/dev/null"})
        self.width, self.height = width, height
        self.screens: list[str] = []  # every distinct screen seen by wait_for, in order
        self.exits = 0  # EXIT= lines already returned by exit_code

    async def _tmux(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            self.tmux, "-S", str(self.socket), "-f", "/dev/null", *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        if process.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: exit {process.returncode}: {err.decode()}")
        return out.decode(errors="replace")

    async def __aenter__(self) -> Terminal:
        await self._tmux("new-session", "-d", "-s", "cli", "-x", str(self.width), "-y", str(self.height),
                         "bash", "--norc", "--noprofile", "-i")
        try:
            await self.wait_for(lambda screen: screen.rstrip().endswith("$"), timeout=10, what="the prompt")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._tmux("kill-server")
        shutil.rmtree(self.socket.parent, ignore_errors=True)

    async def type(self, line: str) -> None:
        """Type a command line and press Enter."""
        await self._tmux("send-keys", "-t", "cli", "-l", line)
        await self._tmux("send-keys", "-t", "cli", "Enter")

    async def press(self, key: str) -> None:
        """A key as tmux names it, e.g. ``C-c``: the terminal sends it, the line discipline turns
        it into SIGINT for the foreground process group."""
        await self._tmux("send-keys", "-t", "cli", key)

    async def screen(self, escapes: bool = False) -> str:
        """Everything printed so far (scroll-back included), wrapped lines joined; with ``escapes``
        the colours as escape codes."""
        text = await self._tmux("capture-pane", "-p", "-J", "-S", "-", *(["-e"] if escapes else []),
                                "-t", "cli")
        return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")

    async def wait_for(self, condition: Callable[[str], bool], *, timeout: float, what: str,
                       interval: float = 0.1) -> str:
        """Poll the screen until ``condition`` holds; fail with the last screen after ``timeout``."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = await self.screen()
            if not self.screens or self.screens[-1] != screen:
                self.screens.append(screen)
            if condition(screen):
                return screen
            await asyncio.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; the screen:\n{screen}")

    async def exit_code(self, timeout: float) -> int:
        """Wait for the next ``EXIT=<code>`` line (a command typed as ``…; echo EXIT=$?`` prints
        it once it has ended) and return the code."""
        seen = self.exits
        screen = await self.wait_for(lambda s: len(EXIT_LINE.findall(s)) > seen, timeout=timeout,
                                     what="the command to end (EXIT=...)")
        self.exits += 1
        return int(EXIT_LINE.findall(screen)[seen])
