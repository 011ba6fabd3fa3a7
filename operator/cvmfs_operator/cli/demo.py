"""``cvmfs-operator-demo``: the real operator (kopf, in this process) on a SIMULATED cluster.

kmock's Kubernetes API emulator on loopback stands in for the cluster, a simulated kubelet plays the
node (publisher pods go Running, then Succeeded; no container runs) and in-memory storage laid out
like a cvmfs bucket plays the repository: a "publish" writes the next manifest and tag database,
and the operator reads them back with its real Stratum 0 code before (is the tag there already?)
and after (is it really there?) each publish, and for the Repository's health.
Nothing is mounted, signed or uploaded. Applies every YAML in ``examples/`` (or ``--examples``),
the RepositoryOperations once the Transactions are final (simulated operations act on the same
storage), prints phase changes and a summary; exit 0: all Succeeded, 1: one did not, 3: ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import kmock
import kopf
import yaml

from cvmfs_operator.api import phases
from cvmfs_operator.api.types import API_VERSION, Repository
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients import apply
from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.clients.simkubelet import Fate, SimulatedKubelet
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.handlers.setup import build_registry
from cvmfs_operator.handlers.wiring import make_runtime
from cvmfs_operator.render import names
from cvmfs_operator.settings import Settings
from cvmfs_operator.stratum0 import Stratum0Reader, simulated, simulated_operations

OPERATOR_NAMESPACE = "cvmfs-release-operator"  # as in the plain install (manifests/)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
POLL = 0.1  # seconds between status reads
POD_SECONDS = 1.0  # how long each simulated publisher pod "runs"
OPERATION = (API_VERSION, "RepositoryOperation")
STOP_GRACE = 1.0  # seconds the operator's daemons get to exit before it is cancelled
PLACEHOLDER = b"SIMULATION: placeholder, not a key"
BANNER = """\
=== SIMULATION: cvmfs-operator-demo ===
  cluster:  none. kmock's Kubernetes API emulator at {url}
  node:     none. A simulated kubelet plays the publisher pods; no container runs
  storage:  none. In memory, laid out like a cvmfs bucket (made-up catalogs, nothing signed);
            the operator reads it with its real Stratum 0 code; no S3 is touched
  operator: the real one (kopf, in this process), namespace {namespace}
"""


class SimulatedStorage:
    """SIMULATION of the repositories' storage: one in-memory object store per repository, laid out
    as cvmfs lays out a bucket. The simulated pods "publish" into it (manifest, tag database,
    reflog) and the operator reads it back with its real Stratum 0 code: the tag lookup before and
    the check after each publish, and the Repository health (revision, whitelist)."""

    def __init__(self, created: frozenset[str] = frozenset()) -> None:
        self._stores: dict[str, simulated.MemoryStore] = {}
        self._guard = threading.Lock()
        self._created = created  # Repositories with spec.create: empty until the operator makes them

    def store(self, fqrn: str) -> simulated.MemoryStore:
        with self._guard:
            if fqrn not in self._stores:
                self._stores[fqrn] = store = simulated.MemoryStore()
                if fqrn not in self._created:
                    simulated.seed_repository(store, fqrn, datetime.datetime.now(datetime.UTC))
            return self._stores[fqrn]

    def reader(self, rt: Runtime, repo: Repository) -> Stratum0Reader:
        return self.store(repo["metadata"]["name"])

    def for_config(self, config: Mapping[str, Any]) -> simulated.ObjectStore | None:
        return self.store(str(config["fqrn"]))


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
                operator: asyncio.Task[None], kind: str = "Transaction") -> dict[str, dict[str, Any]]:
    """Print every phase change until all Transactions (or RepositoryOperations) are final or the
    deadline passes."""
    statuses: dict[str, dict[str, Any]] = {key: {} for key in keys}
    seen: dict[str, tuple[object, object]] = {}
    read = kube.get_transaction if kind == "Transaction" else kube.get_repository_operation
    print(f"{'TIME':<12}  {kind.upper():<32} {'PHASE':<10} {'REASON':<20} MESSAGE", flush=True)
    while time.monotonic() < deadline and not operator.done():
        for key in keys:
            namespace, name = key.split("/", 1)
            obj: Any = await asyncio.to_thread(read, namespace, name)
            status: dict[str, Any] = dict(obj.get("status") or {}) if obj else {}
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
    rows = [("TRANSACTION / OPERATION", "PHASE", "REASON", "REVISION", "TAG / OPERATION")]
    for key, s in statuses.items():
        before, after = s.get("revisionBefore"), s.get("revisionAfter")
        revision = f"{before} -> {after}" if after is not None else str(before if before is not None else "-")
        rows.append((key, str(s.get("phase") or "-"), str(s.get("reason") or "-"), revision,
                     str(s.get("tag") or s.get("operation") or "-")))
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
        storage = SimulatedStorage(frozenset(
            str(d["metadata"]["name"]) for d in documents
            if (d.get("apiVersion"), d.get("kind")) == (API_VERSION, "Repository")
            and "create" in d.get("spec", {})))
        kubelet = SimulatedKubelet(KubeClient(make_api_client(url)), OPERATOR_NAMESPACE,
                                   fate=lambda pod: Fate(seconds=POD_SECONDS),
                                   publish=simulated.publisher(storage.for_config),
                                   operate=simulated_operations.operator(storage.for_config))
        stop = asyncio.Event()
        registry = build_registry(make_runtime(settings), readers=storage.reader, endpoints_in_dns=False)
        operator = asyncio.create_task(kopf.operator(registry=registry, clusterwide=True, standalone=True,
                                                     stop_flag=stop))
        kubelet.start()
        try:
            # Operations after the Transactions are final: they act on what those published.
            later = [d for d in documents if (d.get("apiVersion"), d.get("kind")) == OPERATION]
            first = [d for d in documents if (d.get("apiVersion"), d.get("kind")) != OPERATION]
            keys = await _create(kube, apply.placeholder_secrets(documents, OPERATOR_NAMESPACE, PLACEHOLDER)
                                 + first)
            statuses = await watch(kube, keys, deadline, operator)
            if later and all(final(s) for s in statuses.values()):
                statuses |= await watch(kube, await _create(kube, later), deadline, operator,
                                        kind="RepositoryOperation")
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


async def _create(kube: KubeClient, documents: list[dict[str, Any]]) -> list[str]:
    """Create each document; the keys of the Transactions and RepositoryOperations among them."""
    keys: list[str] = []
    for body in documents:
        created = await asyncio.to_thread(apply.create, kube, body)
        meta = (created or body)["metadata"]
        print(f"{_stamp()}  created {apply.describe(created or body)}"
              f"{'' if created else ' (already there)'}", flush=True)
        if (body.get("apiVersion"), body.get("kind")) in ((API_VERSION, "Transaction"), OPERATION):
            keys.append(f"{meta['namespace']}/{meta['name']}")
    return keys


async def _wait_pods_removed(kube: KubeClient, deadline: float) -> None:
    labels = {names.LABEL_MANAGED_BY: names.MANAGED_BY}  # publisher and operation pods
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(kube.list_pods, OPERATOR_NAMESPACE, labels):
            print(f"{_stamp()}  all publisher and operation pods removed by the operator", flush=True)
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
        print(f"\ntimed out after {timeout:g}s: not every Transaction and operation is final",
              file=sys.stderr)
        return EXIT_TIMEOUT
    if any(s.get("phase") != phases.Phase.SUCCEEDED for s in statuses.values()):
        return EXIT_FAILED
    print("\nAll Transactions and RepositoryOperations Succeeded (in the SIMULATION).")
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
