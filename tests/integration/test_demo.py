"""``cvmfs-operator-demo`` as a user runs it: a child process that applies examples/ to the
embedded emulator, says it is a SIMULATION, and ends with every example Transaction Succeeded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO = [sys.executable, "-m", "cvmfs_operator.cli.demo"]


def example_transactions() -> set[str]:
    found: set[str] = set()
    for path in EXAMPLES.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Transaction":
                found.add(f"{doc['metadata'].get('namespace', 'default')}/{doc['metadata']['name']}")
    return found


def example_operations() -> set[str]:
    return {f"{doc['metadata'].get('namespace', 'default')}/{doc['metadata']['name']}"
            for path in EXAMPLES.glob("operation-*.yaml") for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "RepositoryOperation"}


def test_demo_publishes_every_example_in_creation_order(tmp_path: Path) -> None:
    # Run from elsewhere: the demo finds examples/ next to its own source tree, not in the cwd.
    # Its own --timeout bounds the run; the subprocess timeout only guards against a hang.
    result = subprocess.run([*DEMO, "--timeout", "25"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=45, check=False)
    out = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{out}\n{result.stderr}"
    assert out.splitlines()[0].startswith("=== SIMULATION"), out
    assert "simulated kubelet" in out

    created = re.findall(r"created Transaction (\S+)$", out, re.MULTILINE)
    assert len(example_transactions()) == 2  # a Repository and two Transactions on it
    assert sorted(created) == sorted(example_transactions()), out
    succeeded = re.findall(r"^\S+\s+(\S+/\S+)\s+Succeeded\s+Published\b", out, re.MULTILINE)
    assert succeeded == created, f"Succeeded in order {succeeded}, created in order {created}\n{out}"

    summary = out[out.index("Summary (SIMULATION"):]
    for key in created:
        row = next(line for line in summary.splitlines() if line.startswith(key))
        assert re.search(r"Succeeded\s+Published\s+\d+ -> \d+\s+\S+", row), row
    operations = example_operations()
    assert operations, "examples/ holds RepositoryOperations"
    for key in operations:  # applied once the Transactions are final, each Succeeded
        row = next(line for line in summary.splitlines() if line.startswith(key + " "))
        assert re.search(r"\sSucceeded\s", row), row
    assert "Traceback" not in result.stderr, result.stderr


def test_demo_refuses_a_folder_without_yaml(tmp_path: Path) -> None:
    result = subprocess.run([*DEMO, "--examples", str(tmp_path)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    assert "no YAML files" in result.stderr
