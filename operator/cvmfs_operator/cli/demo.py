"""``cvmfs-operator-demo``: the real operator (kopf, in this process) on a SIMULATED cluster.

kmock's Kubernetes API emulator on loopback stands in for the cluster, a simulated kubelet plays the
node (publisher pods go Running, then Succeeded; no container runs) and an in-memory stand-in plays
the repository's storage: a "publish" bumps its revision and records the tag, and the operator
reads it back before (is the tag there already?) and after (is it really there?) each publish.
Nothing is mounted, signed or uploaded. Applies every YAML in ``examples/`` (or ``--examples``),
prints phase changes and a summary; exit 0: all Succeeded, 1: one did not, 3: ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kmock
import kopf
import yaml

from cvmfs_operator.api import contract, phases
from cvmfs_operator.api.types import API_VERSION, Transaction
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients import apply
from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.clients.simkubelet import Fate, SimulatedKubelet
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.handlers.setup import build_registry
from cvmfs_operator.handlers.wiring import make_runtime
from cvmfs_operator.reconcile.observed import Stratum0View
from cvmfs_operator.render import names
from cvmfs_operator.render.transaction import effective_tag
from cvmfs_operator.settings import Settings

OPERATOR_NAMESPACE = "cvmfs-release-operator"  # as in the plain install (manifests/)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
POLL = 0.1  # seconds between status reads
POD_SECONDS = 1.0  # how long each simulated publisher pod "runs"
STOP_GRACE = 1.0  # seconds the operator's daemons get to exit before it is cancelled
PLACEHOLDER = b"SIMULATION: placeholder, not a key"
BANNER = """\
=== SIMULATION: cvmfs-operator-demo ===
  cluster:  none. kmock's Kubernetes API emulator at {url}
  node:     none. A simulated kubelet plays the publisher pods; no container runs
  storage:  none. An in-memory stand-in: revisions and tags are made up; no S3 is touched
  operator: the real one (kopf, in this process), namespace {namespace}
"""


class MemoryStratum0:
    """SIMULATION of the repositories' storage: what the simulated pods "publish" (called by the
    kubelet thread) and what the operator reads back (in its worker threads)."""

    def __init__(self, first_revision: int = 2) -> None:  # a new repository is at revision 2
        self._guard = threading.Lock()
        self._first = first_revision
        self._revisions: dict[str, int] = {}
        self._tags: dict[str, dict[str, int]] = {}  # fqrn -> tag -> revision

    def publish(self, config: contract.PublisherConfig) -> contract.PublisherResult:
        fqrn, tag = config["fqrn"], config["tagName"]
        with self._guard:
            before = self._revisions.get(fqrn, self._first)
            self._revisions[fqrn] = after = before + 1
            self._tags.setdefault(fqrn, {})[tag] = after
        message = f"published revision {after} tagged {tag}"
        return {"contractVersion": contract.CONTRACT_VERSION, "outcome": contract.Outcome.SUCCEEDED.value,
                "errorClass": None, "step": None, "message": message, "revisionBefore": before,
                "revisionAfter": after, "rootHash": _hash(fqrn, after), "tag": tag,
                "reflogChecksum": _hash(f"reflog {fqrn}", after), "durations": {"publish": POD_SECONDS},
                "leaseToken": None, "logTail": [f"[SIMULATION] {fqrn}: {message}"]}

    def read(self, rt: Runtime, txn: Transaction) -> Stratum0View:
        fqrn = txn["spec"]["repository"]
        with self._guard:
            revision = self._revisions.get(fqrn, self._first)
            tagged = self._tags.get(fqrn, {}).get(effective_tag(txn))
        return Stratum0View(revision=revision, root_hash=_hash(fqrn, revision),
                            reflog_hash=_hash(f"reflog {fqrn}", revision), tag_revision=tagged,
                            tag_hash=None if tagged is None else _hash(fqrn, tagged))


def _hash(what: str, revision: int) -> str:
    return hashlib.sha1(f"SIMULATION {what} {revision}".encode()).hexdigest()


def default_examples() -> Path:
    """``examples/`` of the source tree this module belongs to, else of the current directory."""
    in_tree = Path(__file__).resolve().parents[3] / "examples"
    return in_tree if in_tree.is_dir() else Path.cwd() / "examples"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cvmfs-operator-demo", description="SIMULATION: the operator "
                                     "on an in-process API emulator with a simulated kubelet; no cluster")
    parser.add_argument("--examples", type=Path, metavar="DIR", help="YAML folder (default: examples/)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="exit 3 when the Transactions are not final by then (default: 60)")
    parser.add_argument("--verbose", action="store_true", help="show the operator's (kopf's) log")
    return parser.parse_args(argv)


def setup_logging(verbose: bool) -> None:
    # The loggers stay at INFO so kopf still posts Events to the emulator; only the console is quiet.
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for noisy in ("kubernetes", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stamp() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def _show(key: str, status: dict[str, Any]) -> None:
    print(f"{_stamp()}  {key:<32} {status.get('phase', '-'):<10} {status.get('reason') or '-':<20} "
          f"{status.get('message') or ''}", flush=True)


async def watch(kube: KubeClient, keys: list[str], deadline: float,
                operator: asyncio.Task[None]) -> dict[str, dict[str, Any]]:
    """Print every phase change until all Transactions are final or the deadline passes."""
    statuses: dict[str, dict[str, Any]] = {key: {} for key in keys}
    seen: dict[str, tuple[object, object]] = {}
    print(f"{'TIME':<12}  {'TRANSACTION':<32} {'PHASE':<10} {'REASON':<20} MESSAGE", flush=True)
    while time.monotonic() < deadline and not operator.done():
        for key in keys:
            namespace, name = key.split("/", 1)
            txn = await asyncio.to_thread(kube.get_transaction, namespace, name)
            status: dict[str, Any] = dict(txn.get("status") or {}) if txn else {}
            statuses[key] = status
            now = (status.get("phase"), status.get("reason"))
            if status.get("phase") and seen.get(key) != now:
                seen[key] = now
                _show(key, status)
        if all(final(s) for s in statuses.values()):
            break
        await asyncio.sleep(POLL)
    return statuses


def final(status: dict[str, Any]) -> bool:
    return status.get("phase") in {p.value for p in phases.TERMINAL}


def summary(statuses: dict[str, dict[str, Any]]) -> str:
    rows = [("TRANSACTION", "PHASE", "REASON", "REVISION", "TAG")]
    for key, s in statuses.items():
        before, after = s.get("revisionBefore"), s.get("revisionAfter")
        revision = f"{before} -> {after}" if after is not None else str(before if before is not None else "-")
        rows.append((key, str(s.get("phase") or "-"), str(s.get("reason") or "-"), revision,
                     str(s.get("tag") or "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


async def run_demo(documents: list[dict[str, Any]], timeout: float, verbose: bool = False) -> int:
    started = time.monotonic()
    deadline = started + timeout
    async with ApiEmulator() as api, kmock.Server(api):
        url = str(api.url)
        print(BANNER.format(url=url, namespace=OPERATOR_NAMESPACE), flush=True)
        settings = Settings(namespace=OPERATOR_NAMESPACE, api_server=url, reconcile_interval=0.2,
                            metrics_port=0, liveness_port=0)
        kube = KubeClient(make_api_client(url))
        storage = MemoryStratum0()
        kubelet = SimulatedKubelet(KubeClient(make_api_client(url)), OPERATOR_NAMESPACE,
                                   fate=lambda pod: Fate(seconds=POD_SECONDS), publish=storage.publish)
        stop = asyncio.Event()
        registry = build_registry(make_runtime(settings), read_stratum0=storage.read)
        operator = asyncio.create_task(kopf.operator(registry=registry, clusterwide=True, standalone=True,
                                                     stop_flag=stop))
        kubelet.start()
        try:
            keys: list[str] = []
            for body in apply.placeholder_secrets(documents, OPERATOR_NAMESPACE, PLACEHOLDER) + documents:
                created = await asyncio.to_thread(apply.create, kube, body)
                meta = (created or body)["metadata"]
                print(f"{_stamp()}  created {apply.describe(created or body)}"
                      f"{'' if created else ' (already there)'}", flush=True)
                if body.get("apiVersion") == API_VERSION and body.get("kind") == "Transaction":
                    keys.append(f"{meta['namespace']}/{meta['name']}")
            statuses = await watch(kube, keys, deadline, operator)
            await _wait_pods_removed(kube, deadline)
        finally:
            await asyncio.to_thread(kubelet.stop)
            if not verbose:  # kopf warns about each daemon it stops: shutdown chatter
                logging.getLogger("kopf").setLevel(logging.ERROR)
            stop.set()
            # kopf then waits 5 s for every task started after it, the emulator's keep-alive
            # connection handlers included; after a grace period for its daemons, cancel it.
            await asyncio.wait({operator}, timeout=STOP_GRACE)
            operator.cancel()
            await asyncio.wait({operator})
    return _report(statuses, operator, time.monotonic() - started, timeout)


async def _wait_pods_removed(kube: KubeClient, deadline: float) -> None:
    labels = {names.LABEL_COMPONENT: "publisher"}
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(kube.list_pods, OPERATOR_NAMESPACE, labels):
            print(f"{_stamp()}  all publisher pods removed by the operator", flush=True)
            return
        await asyncio.sleep(POLL)


def _report(statuses: dict[str, dict[str, Any]], operator: asyncio.Task[None], elapsed: float,
            timeout: float) -> int:
    print(f"\nSummary (SIMULATION, {elapsed:.1f}s; revisions and tags are made up):")
    print(summary(statuses))
    if operator.done() and not operator.cancelled() and operator.exception() is not None:
        print(f"\nthe operator stopped with an error: {operator.exception()!r}", file=sys.stderr)
        return EXIT_FAILED
    if not all(final(s) for s in statuses.values()):
        print(f"\ntimed out after {timeout:g}s: not every Transaction is final", file=sys.stderr)
        return EXIT_TIMEOUT
    if any(s.get("phase") != phases.Phase.SUCCEEDED for s in statuses.values()):
        return EXIT_FAILED
    print("\nAll Transactions Succeeded (in the SIMULATION).")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    examples: Path = args.examples or default_examples()
    if not examples.is_dir() or not any(examples.glob("*.y*ml")):
        print(f"cvmfs-operator-demo: no YAML files in {examples}; pass --examples DIR", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        documents = apply.creation_order(apply.load_documents(sorted(examples.glob("*.y*ml"))))
    except (apply.UnsupportedKind, yaml.YAMLError) as exc:
        print(f"cvmfs-operator-demo: cannot read {examples}: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    setup_logging(args.verbose)
    sys.exit(asyncio.run(run_demo(documents, args.timeout, args.verbose)))


if __name__ == "__main__":
    main()
