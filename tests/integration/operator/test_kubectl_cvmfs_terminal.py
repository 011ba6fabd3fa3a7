"""``kubectl-cvmfs publish --wait`` in a real terminal (tmux), read off the screen as a release
manager sees it: the live view while it changes, colour because it is a terminal (and none when
piped to a file), Ctrl-C detaching or, with ``--cancel-on-interrupt``, cancelling.

Same world as test_kubectl_cvmfs.py: the real operator on kmock's emulator, the simulated kubelet
writing pod logs the emulator serves, and moto's S3 as the staging bucket.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from cvmfs_operator.clients.simkubelet import Fate
from tests.integration.operator import test_kubectl_cvmfs as cli_world
from tests.integration.operator.conftest import FQRN, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually
from tests.support.terminal import SGR, Terminal

NAMESPACE = cli_world.NAMESPACE
FATES = cli_world.FATES
# The fixtures of test_kubectl_cvmfs.py, reused (pytest finds fixtures among a module's names).
kubelet = cli_world.kubelet
staged_repository = cli_world.staged_repository
env = cli_world.env

STAMP = r"^ +\d+\.\ds  "  # the live view's seconds since following began


def terminal_env(env: dict[str, str]) -> dict[str, str]:
    """The release manager's shell: kubeconfig and staging credentials; colour allowed (no
    NO_COLOR); ``kubectl-cvmfs`` of this Python first on PATH."""
    shell = {k: v for k, v in env.items() if k != "NO_COLOR"}
    shell["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return shell


def publish_line(source: Path, name: str, *extra: str, tag: str = "v1.0") -> str:
    return shlex.join(["kubectl-cvmfs", "publish", str(source), "-r", FQRN, "-p", "/releases/1.0",
                       "-t", tag, "--exclude", "*.o", "--name", name, "--wait", "--timeout", "120",
                       *extra])


def line_index(screen: str, pattern: str) -> int:
    """Index of the first screen line matching ``pattern``; fails showing the screen."""
    for i, line in enumerate(screen.splitlines()):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matching {pattern!r} on the screen:\n{screen}")


def stamp(screen: str, pattern: str) -> float:
    return float(screen.splitlines()[line_index(screen, pattern)].split()[0].rstrip("s"))


async def test_the_live_view_as_a_release_manager_sees_it(
        operator: OperatorProcess, kubelet: object, staged_repository: str, env: dict[str, str],
        cluster: Cluster, tmp_path: Path) -> None:
    source = cli_world.release_dir(tmp_path)
    # Another publish holds the repository, so ours waits in the queue first.
    FATES["ahead"] = Fate(seconds=4)
    FATES["live"] = Fate(seconds=4)
    await cluster.create_transaction(transaction("ahead", NAMESPACE))
    await cluster.wait_phase(NAMESPACE, "ahead", "Running", timeout=30)

    async with Terminal(terminal_env(env)) as term:
        await term.type(f"{publish_line(source, 'live')}; echo EXIT=$?")
        code = await term.exit_code(timeout=120)
        screen = await term.screen()
        coloured = await term.screen(escapes=True)
        assert code == 0, screen

        queued = line_index(screen, STAMP + r"Queued  position 1 in the repository's queue$")
        pod = f"cvmfs-pub-a1-{NAMESPACE}-live-"
        running = line_index(screen, STAMP + f"Running  attempt 1, publisher pod {pod}")
        log = line_index(screen, r"^\| \S+Z INFO \[simulated\] publisher for live running$")
        succeeded = line_index(screen, STAMP + r"Succeeded  Published$")
        summary = line_index(screen, rf"^Transaction {NAMESPACE}/live: Succeeded \(Published\)$")
        assert line_index(screen, r"^  \d+ entries, .*, sha256 [0-9a-f]{64}$") < queued
        assert line_index(screen, rf"^Transaction {NAMESPACE}/live created$") < queued
        assert queued < running < log < succeeded < summary
        assert len(re.findall(STAMP + "Pending", screen, re.MULTILINE)) <= 1  # said once, not per poll
        assert (stamp(screen, STAMP + "Queued") < stamp(screen, STAMP + "Running")
                < stamp(screen, STAMP + "Succeeded"))
        tail = screen.splitlines()[summary:]
        assert tail[1] == f"  repository  {FQRN}  path /releases/1.0"
        assert tail[2] == "  revision    3 -> 4"  # "ahead" published revision 3
        assert tail[3] == "  tag         v1.0"
        assert re.fullmatch(r"  duration    \d+s", tail[4]), tail
        assert "[##############################] 100.0%" in screen  # the upload's bar, drawn in place

        # Live, not printed at the end: the screen was seen queued before it ran, and running (its
        # pod's log streaming) before it finished.
        assert any("Queued  position" in s and "Running  attempt" not in s for s in term.screens)
        assert any("publisher for live running" in s and "Succeeded  Published" not in s
                   for s in term.screens)

        # Colour, because stdout is a terminal: the phases in their colours (tmux re-encodes them).
        assert "\x1b[34mQueued" in coloured
        assert "\x1b[36mRunning" in coloured
        assert "\x1b[32mSucceeded" in coloured

        # The same command with its output piped to a file: no escape codes at all, no bar.
        out = tmp_path / "piped.txt"
        await term.type(f"{publish_line(source, 'piped')} | cat > {shlex.quote(str(out))}; "
                        "echo EXIT=${PIPESTATUS[0]}")
        assert await term.exit_code(timeout=120) == 0, await term.screen()
        piped = out.read_text()
        assert "Succeeded (AlreadyPublished)" in piped
        assert "\x1b" not in piped
        assert not SGR.search(piped)


async def test_ctrl_c_detaches_and_with_cancel_on_interrupt_cancels(
        operator: OperatorProcess, kubelet: object, staged_repository: str, env: dict[str, str],
        cluster: Cluster, tmp_path: Path) -> None:
    source = cli_world.release_dir(tmp_path)
    FATES["detached"] = Fate(seconds=6)
    FATES["cancelled"] = Fate(seconds=600)  # runs until cancelled
    running = STAMP + r"Running  attempt 1, publisher pod "

    async with Terminal(terminal_env(env)) as term:
        # Ctrl-C while the pod runs and its log streams: detach (130); the publish goes on.
        await term.type(f"{publish_line(source, 'detached')}; echo EXIT=$?")
        await term.wait_for(lambda s: re.search(running, s, re.MULTILINE) is not None
                            and "publisher for detached running" in s, timeout=60, what="Running")
        await term.press("C-c")
        assert await term.exit_code(timeout=20) == 130, await term.screen()
        screen = await term.screen()
        assert (f"Detached; Transaction {NAMESPACE}/detached keeps going. Follow it again with: "
                f"kubectl cvmfs wait detached -n {NAMESPACE}") in screen
        assert "Succeeded  Published" not in screen
        assert len(re.findall(STAMP + "Pending", screen, re.MULTILINE)) <= 1
        status = await cluster.wait_phase(NAMESPACE, "detached", "Succeeded", timeout=60)
        assert status["reason"] == "Published"
        # Following again, as the message says, ends with the outcome.
        await term.type(f"kubectl-cvmfs wait detached -n {NAMESPACE} --no-logs; echo EXIT=$?")
        assert await term.exit_code(timeout=60) == 0, await term.screen()

        # With --cancel-on-interrupt, Ctrl-C cancels: the Transaction is deleted (exit 3), the
        # operator stops its pod and releases the repository.
        command = publish_line(source, "cancelled", "--cancel-on-interrupt", tag="v1.1")
        await term.type(f"{command}; echo EXIT=$?")
        await term.wait_for(lambda s: "publisher for cancelled running" in s, timeout=60, what="Running")
        await term.press("C-c")
        assert await term.exit_code(timeout=20) == 3, await term.screen()
        assert (f"Interrupted: cancelling Transaction {NAMESPACE}/cancelled (deleted; its publisher pod "
                "is stopped and aborts)") in await term.screen()
        await cluster.wait_gone(NAMESPACE, "cancelled", timeout=60)
        await eventually(lambda: cluster.idle(FQRN), timeout=60, what="pod stopped and lock released")
