"""The pod log while the publisher runs: a child's lines appear as they are printed (redacted,
stamped when read), every step logs its start and end, and SIGTERM still ends a busy run at once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cvmfs_operator.api.contract import ExitCode
from tests.integration.publisher.harness import FQRN, Stratum0, eventually
from tests.integration.publisher.live import LiveLog, stamp_seconds
from tests.support.s3 import ACCESS_KEY, SECRET_KEY

STEPS = ["configure", "mount", "transaction", "payload", "publish"]
Start = Callable[[dict[str, Any]], LiveLog]  # a publisher for this config, its stderr read live
StartScript = Callable[[str], LiveLog]  # a publisher for a script payload with this source


@pytest.fixture
def started() -> Iterator[list[LiveLog]]:
    """Publishers a test started; one still running when the test ends (it failed) is stopped."""
    runs: list[LiveLog] = []
    yield runs
    for live in runs:
        live.stop()


@pytest.fixture
def start(repo: Stratum0, started: list[LiveLog]) -> Start:
    def start(config: dict[str, Any]) -> LiveLog:
        started.append(LiveLog(repo, repo.start(config)))
        return started[-1]
    return start


@pytest.fixture
def start_script(repo: Stratum0, start: Start) -> StartScript:
    return lambda source: start(repo.config({"script": {"source": source}}, allowScripts=True))


def wait_until(gate: Path) -> str:
    """Shell lines that block the script until the test creates ``gate``."""
    return f"while [ ! -e {gate} ]; do sleep 0.05; done\n"


def out_lines(log: list[str]) -> list[str]:
    return [line.split(" OUT script: ", 1)[1] for line in log if " OUT script: " in line]


def test_a_child_line_reaches_the_pod_log_while_the_child_still_runs(
        repo: Stratum0, start_script: StartScript) -> None:
    repo.seed()
    gate = repo.root / "gate"
    live = start_script(f"echo 'first line'\n{wait_until(gate)}echo 'second line'\n")
    first = live.wait_for("OUT script: first line")
    assert live.process.poll() is None
    assert "second line" not in "\n".join(live.lines)
    # Deterministic distinct stamps: the second line cannot be printed before the gate exists.
    eventually(lambda: time.time() >= stamp_seconds(first) + 0.002, "the clock to pass the first line")
    opened = time.time()
    gate.touch()
    run = live.finish()
    assert run.code == ExitCode.SUCCEEDED
    second = live.wait_for("OUT script: second line")
    assert stamp_seconds(first) < opened
    assert stamp_seconds(first) < stamp_seconds(second)
    assert out_lines(live.lines) == ["first line", "second line"]
    tail = [line for line in run.result["logTail"] if line.startswith("OUT script:")]
    assert tail == ["OUT script: first line", "OUT script: second line"]


def test_every_step_logs_its_start_and_its_end_with_the_reported_duration(
        repo: Stratum0, start: Start) -> None:
    repo.seed({"sw/a": b"a"})
    live = start(repo.config({"remove": {"paths": ["a"]}}))
    run = live.finish()
    assert run.code == ExitCode.SUCCEEDED
    steps = [line.split(" STEP ", 1)[1] for line in live.lines if " STEP " in line]
    durations = run.result["durations"]
    assert sorted(durations) == sorted(STEPS)
    assert steps == [message for step in STEPS for message in (
        f"{step} started", f"{step} finished in {durations[step]:.3f} s")]
    started = live.lines.index(live.wait_for("STEP transaction started"))
    finished = live.lines.index(live.wait_for("STEP transaction finished"))
    assert started < live.lines.index(live.wait_for("running cvmfs_server transaction")) < finished
    assert not any("STEP" in line for line in run.result["logTail"])  # the result has its durations


def test_a_secret_printed_by_a_running_child_is_redacted_in_the_live_log(
        repo: Stratum0, start_script: StartScript) -> None:
    repo.seed()
    gate = repo.root / "gate"
    live = start_script(f"echo 'keys {ACCESS_KEY} {SECRET_KEY}'\n{wait_until(gate)}")
    live.wait_for("OUT script: keys *** ***")
    assert live.process.poll() is None
    for line in live.lines:
        assert SECRET_KEY not in line
        assert ACCESS_KEY not in line
    gate.touch()
    run = live.finish()
    assert run.code == ExitCode.SUCCEEDED
    everything = run.stdout + run.stderr + str(run.result)
    assert SECRET_KEY not in everything
    assert ACCESS_KEY not in everything


def test_sigterm_while_a_child_keeps_printing_cancels_at_once_and_aborts(
        repo: Stratum0, start_script: StartScript) -> None:
    repo.seed({"sw/a": b"a"})
    live = start_script("rm a\nwhile :; do echo tick; sleep 0.02; done\n")
    eventually(lambda: out_lines(live.lines).count("tick") >= 3, "the script to print")
    signalled = time.monotonic()
    live.process.send_signal(signal.SIGTERM)
    run = live.finish()
    assert time.monotonic() - signalled < 15  # the loop would run forever; the kill grace is 5 s
    assert run.code == ExitCode.CANCELLED
    assert run.result["outcome"] == "Cancelled"
    assert run.result["step"] == "payload"
    assert repo.calls()[-1] == ["abort", "-f", FQRN]
    cancelled = live.lines.index(live.wait_for("STEP payload cancelled after"))
    assert cancelled < live.lines.index(live.wait_for("running cvmfs_server abort -f"))
    assert (repo.union / "sw" / "a").exists()


def test_a_child_that_closes_its_output_is_still_waited_for(
        repo: Stratum0, start_script: StartScript) -> None:
    repo.seed()
    gate = repo.root / "gate"
    live = start_script(f"echo 'closing my output'\nexec >&- 2>&-\n{wait_until(gate)}touch after\n")
    live.wait_for("OUT script: closing my output")
    assert live.process.poll() is None
    gate.touch()
    run = live.finish()
    assert run.code == ExitCode.SUCCEEDED
    assert repo.published_tree()["sw/after"] == b""


@pytest.fixture
def pid_dir(repo: Stratum0) -> Iterator[Path]:
    """Where a script leaves the pids of the processes it starts; they are killed afterwards."""
    directory = repo.root / "pids"
    directory.mkdir()
    os.chmod(directory, 0o777)
    yield directory
    for pid_file in directory.iterdir():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_process_left_behind_holding_the_output_does_not_hold_the_publisher(
        repo: Stratum0, start_script: StartScript, pid_dir: Path) -> None:
    repo.seed()
    live = start_script(f"sleep 300 &\necho $! > {pid_dir}/sleeper\necho 'left one behind'\n")
    run = live.finish(timeout=20)  # would wait 300 s for the end of the output
    assert run.code == ExitCode.SUCCEEDED
    assert "OUT script: left one behind" in run.result["logTail"]
    live.wait_for("script exited; a process it left behind holds its output open")


def test_long_binary_and_unfinished_lines_are_bounded_and_printable(
        repo: Stratum0, start_script: StartScript) -> None:
    repo.seed()
    script = ("head -c 100000 /dev/zero | tr '\\0' x\necho\n"
              "printf 'bad \\377\\376 \\033[31mred\\n'\n"
              "printf 'no newline at the end'\n")
    run = start_script(script).finish()
    assert run.code == ExitCode.SUCCEEDED
    assert out_lines(run.stderr.splitlines()) == [
        "x" * 4096 + " [rest of line dropped]", "bad \ufffd\ufffd \ufffd[31mred", "no newline at the end"]
    assert "\x1b" not in run.stderr
