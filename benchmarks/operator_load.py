"""Load, API cost and memory of the operator, measured at the HTTP boundary (issue 11).

The real operator (``cvmfs-operator``) runs as a child process and talks to the API server only
through a recording proxy on loopback (tests/support/apiproxy.py), which counts every request by
verb and resource and can inject faults. A simulated kubelet runs the publisher pods (for a pod
duration you choose) through a second, fault-free recording proxy, so the moment each pod
terminated is on record too. S3 is moto's server on loopback (a process of its own); each
simulated publish really writes the next revision and tag.

The API server is kmock's emulator in this process, or any cluster from a kubeconfig
(``--kubeconfig``); there the script plays the kubelet for the pods of its own operator namespace,
so the nodes must not run them (cordon them, or use a control-plane-only cluster, as
docs/e2e.md explains) and the CRDs are created if absent.

    python benchmarks/operator_load.py single                  # (a) created -> pod created latency
    python benchmarks/operator_load.py sequential -n 10        # (b) requests per Transaction
    python benchmarks/operator_load.py burst -n 60 -m 6        # (c) N over M at once
    python benchmarks/operator_load.py burst -n 1000 -m 50 --timeout 1800
    python benchmarks/operator_load.py idle -m 50 --window 30  # (d) idle: healthy, unreachable, slow S3
    python benchmarks/operator_load.py sigkill -n 200 -m 10 --kills 200  # SIGKILLed and restarted
    python benchmarks/operator_load.py replicas -n 100 -m 10   # two replicas, one SIGKILLed

Every run prints its figures and its invariants as counts (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kmock  # noqa: E402
from tests.support import invariants, killer, runs  # noqa: E402
from tests.support.apiproxy import (  # noqa: E402
    ApiProxy,
    Faults,
    Record,
    Upstream,
    resource_label,
    upstream_from_kubeconfig,
)
from tests.support.cluster import OperatorProcess  # noqa: E402
from tests.support.emulated import with_real_discovery  # noqa: E402
from tests.support.replicas import replica_report  # noqa: E402
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, MotoProcess  # noqa: E402

from benchmarks import handover  # noqa: E402
from benchmarks.finals import Finals  # noqa: E402
from cvmfs_operator.api import contract  # noqa: E402
from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION  # noqa: E402
from cvmfs_operator.cli.emulator import ApiEmulator  # noqa: E402
from cvmfs_operator.clients.errors import AlreadyExists, KubeError  # noqa: E402
from cvmfs_operator.clients.kube import KubeClient, make_api_client  # noqa: E402
from cvmfs_operator.clients.simkubelet import Fate, SimulatedKubelet  # noqa: E402
from cvmfs_operator.render import names  # noqa: E402
from cvmfs_operator.stratum0 import simulated  # noqa: E402

CREDENTIALS = "bench-s3"
READS = frozenset({"get", "list"})
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})


# Figures


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


@dataclass
class Figures:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, value: object) -> None:
        self.rows.append((what, str(value)))

    def print(self, title: str) -> None:
        width = max([len(w) for w, _ in self.rows] + [10])
        print(f"\n== {title}")
        for what, value in self.rows:
            print(f"  {what:<{width}}  {value}")


def request_table(records: Iterable[Record], per: int) -> str:
    counts = collections.Counter((r.info.verb, resource_label(r.info)) for r in records
                                 if r.info.is_resource and r.info.verb != "watch")
    lines = [f"  {'verb':<7} {'resource':<40} {'total':>7} {'per Transaction':>16}"]
    for (verb, resource), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {verb:<7} {resource:<40} {n:>7} {n / per:>16.1f}")
    return "\n".join(lines)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The environment: API server, proxies, S3, kubelet, operator


@dataclass
class Bench:
    args: argparse.Namespace
    kube: KubeClient  # direct to the API server: the benchmark's own reads and writes
    proxy: ApiProxy  # the operator's only way to the API server
    kubelet_proxy: ApiProxy  # the simulated kubelet's way (fault-free)
    kubelet: SimulatedKubelet
    operator: OperatorProcess
    s3_url: str
    bucket: str
    operator_namespace: str
    namespace: str  # where the benchmark's Transactions live
    emulated: bool
    finals: Finals  # which Transactions are final, from a watch
    repositories: list[str] = field(default_factory=list)
    transactions: dict[tuple[str, str], str] = field(default_factory=dict)
    other_records: list[Record] = field(default_factory=list)  # of a second replica's proxy
    tolerated: set[str] = field(default_factory=set)  # invariant counts that are not violations here

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.kube._call, "bench", fn, *args, **kwargs)

    def store(self, fqrn: str) -> simulated.Bucket:
        return simulated.Bucket(self.s3_url, self.bucket, fqrn, ACCESS_KEY, SECRET_KEY)

    async def create_repository(self, fqrn: str, *, endpoint: str | None = None, seed: bool = True) -> None:
        if endpoint is None and seed:
            await asyncio.to_thread(simulated.seed_repository, self.store(fqrn), fqrn,
                                    datetime.datetime.now(datetime.UTC))
        s3 = endpoint or self.s3_url
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Repository", "metadata": {"name": fqrn},
                "spec": {"stratum0": {"url": f"{s3}/{self.bucket}/{fqrn}",
                                      "s3": {"endpoint": s3, "bucket": self.bucket, "region": "us-east-1",
                                             "addressing": "path",
                                             "credentialsSecretRef": {"name": CREDENTIALS}}},
                         "keysSecretRef": {"name": "bench-keys"},
                         "allowedNamespaces": [self.namespace]}}
        await self.call(self.kube.custom.create_cluster_custom_object, GROUP, VERSION, REPOSITORY_PLURAL,
                        body)
        self.repositories.append(fqrn)

    async def create_transaction(self, name: str, fqrn: str) -> float:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Transaction",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"repository": fqrn, "path": "/bench", "payload": {"remove": {"paths": ["old"]}}}}
        sent = time.time()  # on a real API server the pod may be created before this call returns
        await self.call(self.kube.custom.create_namespaced_custom_object, GROUP, VERSION, self.namespace,
                        TRANSACTION_PLURAL, body)
        self.transactions[(self.namespace, name)] = fqrn
        return sent

    async def phases(self) -> dict[str, str | None]:
        data = await self.call(self.kube.custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace,
                               TRANSACTION_PLURAL)
        return {item["metadata"]["name"]: (item.get("status") or {}).get("phase")
                for item in data.get("items", [])}

    async def wait_final(self, names_: Iterable[str], timeout: float) -> bool:
        return await self.finals.wait(names_, timeout)

    async def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pods = await asyncio.to_thread(self.kube.list_pods, self.operator_namespace,
                                           {names.LABEL_COMPONENT: "publisher"})
            leases = await self.call(self.kube.coordination.list_namespaced_lease, self.operator_namespace)
            if not pods and not leases.get("items"):
                return True
            await asyncio.sleep(0.2)
        return False

    def pod_creations(self, since: float = 0.0) -> list[invariants.PodCreation]:
        return [p for p in invariants.pod_creations(self.proxy.records) if p.at >= since]

    def terminations(self) -> dict[str, tuple[float, float]]:
        """Pod name -> when the kubelet's write of its final phase reached its recording proxy, and
        when the API server answered it (from then on the pod's end can be observed)."""
        ended = {}
        for r in invariants.accepted(self.kubelet_proxy.records):
            if r.info.verb == "patch" and r.info.full_resource == "pods/status":
                with contextlib.suppress(ValueError):
                    phase = (json.loads(r.body).get("status") or {}).get("phase")
                    if phase in ("Succeeded", "Failed") and r.info.name not in ended:
                        ended[r.info.name] = (r.started, r.started + r.duration)
        return ended

    def check(self, expected_phase: str = "Succeeded") -> invariants.Invariants:
        stores = {fqrn: self.store(fqrn) for fqrn in set(self.transactions.values())}
        return invariants.check(
            records=sorted([*self.proxy.records, *self.other_records], key=lambda r: r.started),
            kube=self.kube, operator_namespace=self.operator_namespace,
            transactions=self.transactions, expected_phase=expected_phase,
            overlaps=len(self.kubelet.activity.overlaps),
            started_pods=[pod for _, pod in self.kubelet.activity.started], stores=stores)


def operator_env(args: argparse.Namespace, api_url: str, namespace: str) -> dict[str, str]:
    env = {
        "CVMFS_OPERATOR_API_SERVER": api_url,
        "CVMFS_OPERATOR_NAMESPACE": namespace,
        "CVMFS_OPERATOR_RECONCILE_INTERVAL": str(args.reconcile_interval),
        "CVMFS_OPERATOR_HEALTH_INTERVAL": str(args.health_interval),
        "CVMFS_OPERATOR_STALE_LOCK_SECONDS": "60",
        "CVMFS_OPERATOR_S3_TIMEOUT": str(args.s3_timeout),
        "CVMFS_OPERATOR_API_QPS": str(args.api_qps),
        "CVMFS_OPERATOR_API_BURST": str(args.api_burst),
        "CVMFS_OPERATOR_METRICS_PORT": "0",
        "CVMFS_OPERATOR_LIVENESS_PORT": "0",
    }
    if args.operator_source:  # e.g. a `git archive` of another commit: the "before" of a change
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.operator_source).resolve()), str(ROOT)])
    return env


@contextlib.asynccontextmanager
async def bench_environment(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Bench]:
    faults = Faults(rate=args.fault_rate, cut_after=args.cut_after, seed=args.seed)
    moto = MotoProcess()  # not in this process: the proxies, the kubelet and the emulator run here
    s3 = moto.endpoint
    run = uuid.uuid4().hex[:6]
    bucket = f"bench-{run}"
    s3.client().create_bucket(Bucket=bucket)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(moto.stop)
        if args.kubeconfig:
            upstream = upstream_from_kubeconfig(args.kubeconfig)
            api_client = make_api_client(None, kubeconfig=args.kubeconfig)
            operator_namespace, namespace = f"cvmfs-bench-{run}", f"cvmfs-bench-{run}-r"
            emulated = False
        else:
            emulator = await stack.enter_async_context(ApiEmulator())
            with_real_discovery(emulator)
            await stack.enter_async_context(kmock.Server(emulator))
            upstream = Upstream(str(emulator.url).rstrip("/"))
            api_client = make_api_client(str(emulator.url))
            operator_namespace, namespace = "cvmfs-system", "bench"
            emulated = True
        kube = KubeClient(api_client)
        if not emulated:
            await setup_real_cluster(api_client, operator_namespace, namespace, stack)
        proxy = await stack.enter_async_context(ApiProxy(upstream, faults, impersonate=args.impersonate))
        kubelet_proxy = await stack.enter_async_context(ApiProxy(upstream))
        await asyncio.to_thread(_create_secret, kube, operator_namespace)
        kubelet_kube = KubeClient(make_api_client(kubelet_proxy.url))
        fate = Fate(seconds=args.pod_seconds)
        kubelet = SimulatedKubelet(kubelet_kube, operator_namespace, lambda pod: fate,
                                   publish=simulated.publisher(simulated.s3_stores(ACCESS_KEY, SECRET_KEY)))
        kubelet.start()
        stack.push_async_callback(asyncio.to_thread, kubelet.stop)  # it calls the API: off the loop
        env = operator_env(args, proxy.url, operator_namespace)
        operator = OperatorProcess(env, workdir / "operator.log")
        operator.start()
        stack.push_async_callback(asyncio.to_thread, operator.stop)
        finals = Finals(kube, namespace)
        stack.push_async_callback(asyncio.to_thread, finals.stop)
        bench = Bench(args, kube, proxy, kubelet_proxy, kubelet, operator, s3.url, bucket,
                      operator_namespace, namespace, emulated, finals)
        if not emulated:
            stack.push_async_callback(cleanup_real_cluster, bench)
        yield bench


async def setup_real_cluster(api_client: Any, operator_namespace: str, namespace: str,
                             stack: contextlib.AsyncExitStack) -> None:
    from tests.e2e.harness import PRIVILEGED, Api  # only for a real cluster

    api = Api(api_client)
    created = await api.install_crds(timeout=60)
    if created:
        stack.push_async_callback(api.delete_crds, created, 120)
    if await api.schedulable_nodes():
        raise SystemExit("a schedulable node would run the publisher pods: cordon the nodes (docs/e2e.md)")
    for ns in (operator_namespace, namespace):
        await api.create_namespace(ns, PRIVILEGED)
        stack.push_async_callback(api.delete_namespace, ns, 300)


async def cleanup_real_cluster(bench: Bench) -> None:
    """Transactions first (while the operator still runs their finalizer), then Repositories.

    The operator is started afresh for it, whatever the case left: stopped by ``sigkill``'s last
    kill, or a restart that never came up (once, the last of 40 restarts logged nothing, and the
    namespace, its 40 Transactions and their CRD stayed behind for good)."""
    bench.operator.stop()
    began = time.time()
    bench.operator.start()
    await operator_ready(bench, since=began)
    for (namespace, name) in bench.transactions:
        with contextlib.suppress(KubeError):
            await bench.call(bench.kube.custom.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                             TRANSACTION_PLURAL, name)
    await bench.finals.wait_gone(timeout=120)
    await bench.wait_idle(timeout=120)
    for fqrn in bench.repositories:
        with contextlib.suppress(KubeError):
            await bench.call(bench.kube.custom.delete_cluster_custom_object, GROUP, VERSION,
                             REPOSITORY_PLURAL, fqrn)


def _create_secret(kube: KubeClient, namespace: str) -> None:
    import base64

    data = {contract.S3_ACCESS_KEY_FILE: ACCESS_KEY, contract.S3_SECRET_KEY_FILE: SECRET_KEY}
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": CREDENTIALS, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    with contextlib.suppress(AlreadyExists):
        kube._call("create Secret", kube.core.create_namespaced_secret, namespace, body)


async def operator_ready(bench: Bench, timeout: float = 60, since: float = 0.0) -> None:
    """kopf is up once it watches Transactions (its first watch request, made ``since`` a time.time(),
    reached the proxy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.info.watch and r.info.resource == TRANSACTION_PLURAL for r in bench.proxy.since(since)):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the operator did not start watching within {timeout}s; log: {bench.operator.log_path}")


def repo_names(count: int) -> list[str]:
    return [f"r{i:03d}.bench.example.org" for i in range(count)]


# The cases


async def case_single(bench: Bench) -> Figures:
    """(a) one Transaction on an idle repository: created -> its publisher pod created."""
    figures = Figures()
    await operator_ready(bench)
    fqrn = repo_names(1)[0]
    await bench.create_repository(fqrn)
    latencies = []
    for i in range(bench.args.repeat):
        await bench.wait_idle(timeout=60)
        await asyncio.sleep(bench.args.settle)  # the Repository's health read and status are done
        created = await bench.create_transaction(f"single-{i:03d}", fqrn)
        await bench.wait_final([f"single-{i:03d}"], timeout=bench.args.timeout)
        pods = bench.pod_creations(since=created)
        if pods:
            latencies.append(pods[0].at - created)
    await bench.wait_idle(timeout=60)
    figures.add("runs", len(latencies))
    figures.add("created -> pod created p50", ms(percentile(latencies, 50)))
    figures.add("created -> pod created max", ms(max(latencies) if latencies else None))
    return figures


async def case_sequential(bench: Bench) -> Figures:
    """(b) N Transactions one after another on one repository: requests per Transaction."""
    figures = Figures()
    await operator_ready(bench)
    fqrn = repo_names(1)[0]
    await bench.create_repository(fqrn)
    await bench.wait_idle(timeout=60)
    await asyncio.sleep(bench.args.settle)
    start = time.time()
    pid = bench.operator.process.pid if bench.operator.process else None
    cpu_before = cpu_seconds(pid) if pid else 0.0
    for i in range(bench.args.transactions):
        name = f"seq-{i:04d}"
        await bench.create_transaction(name, fqrn)
        if not await bench.wait_final([name], timeout=bench.args.timeout):
            figures.add("stopped", f"{name} not final after {bench.args.timeout}s")
            break
        await bench.wait_idle(timeout=bench.args.timeout)
    wall = time.time() - start
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    records = [r for r in bench.proxy.since(start) if r.info.is_resource]
    n = max(1, len(bench.transactions))
    reads = sum(1 for r in records if r.info.verb in READS)
    writes = sum(1 for r in records if r.info.verb in WRITES)
    figures.add("Transactions", len(bench.transactions))
    figures.add("wall time", f"{wall:.1f} s")
    figures.add("GET+LIST per Transaction", f"{reads / n:.1f}")
    figures.add("writes per Transaction", f"{writes / n:.1f}")
    events = sum(1 for r in records if r.info.verb == "create" and r.info.resource == "events")
    figures.add("Events per Transaction", f"{events / n:.1f}")
    # Nothing queues here: the CPU a Transaction's own work costs the operator (no waiting daemons).
    figures.add("operator CPU per Transaction", f"{cpu / n * 1000:.1f} ms")
    figures.add("watch requests", sum(1 for r in records if r.info.watch))
    figures.add("requests by verb and resource", "\n" + request_table(records, n))
    return figures


async def case_burst(bench: Bench) -> Figures:
    """(c) N Transactions over M Repositories created at once."""
    figures = Figures()
    args = bench.args
    await operator_ready(bench)
    repos = repo_names(args.repositories)
    for fqrn in repos:
        await bench.create_repository(fqrn)
    await bench.wait_idle(timeout=60)
    await asyncio.sleep(args.settle)
    start = time.time()
    pid = bench.operator.process.pid if bench.operator.process else None
    cpu_before = cpu_seconds(pid) if pid else 0.0
    harness_before = cpu_seconds(os.getpid())
    plan = [(f"burst-{i:04d}", repos[i % len(repos)]) for i in range(args.transactions)]
    await asyncio.gather(*(bench.create_transaction(name, fqrn) for name, fqrn in plan))
    created = time.time() - start
    done = await bench.wait_final([name for name, _ in plan], timeout=args.timeout)
    wall = time.time() - start
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    harness = cpu_seconds(os.getpid()) - harness_before
    idle = await bench.wait_idle(timeout=60)
    peak = proc_status(bench.operator.process.pid) if bench.operator.process else {}
    records = [r for r in bench.proxy.since(start) if r.info.is_resource]
    passes = hand_overs(bench, start)
    handovers = [h.created - h.ended for h in passes]
    from_sent = [h.created - h.end_sent for h in passes]
    n = len(plan)
    figures.add("Transactions / Repositories", f"{n} / {len(repos)}")
    figures.add("created (all) in", f"{created:.1f} s")
    figures.add("wall time until all final", f"{wall:.1f} s" + ("" if done else " (TIMED OUT)"))
    figures.add("pods back to back would need", f"{n / len(repos) * args.pod_seconds:.1f} s")
    figures.add("hand-over p50 / p99 / max",
                f"{ms(percentile(handovers, 50))} / {ms(percentile(handovers, 99))} / "
                f"{ms(max(handovers) if handovers else None)} ({len(handovers)} hand-overs)")
    figures.add("  from the kubelet's write sent, not answered",
                f"{ms(percentile(from_sent, 50))} / {ms(percentile(from_sent, 99))} / "
                f"{ms(max(from_sent) if from_sent else None)}")
    figures.add("hand-over path (median offsets from the pod's end)",
                "".join(f"\n    {label}: {value}" for label, value in handover.breakdown(records, passes)))
    figures.add("requests/s (operator)", f"{len(records) / wall:.1f}")
    figures.add("GET+LIST per Transaction", f"{sum(1 for r in records if r.info.verb in READS) / n:.1f}")
    figures.add("writes per Transaction", f"{sum(1 for r in records if r.info.verb in WRITES) / n:.1f}")
    figures.add("operator peak RSS (VmHWM)", f"{peak.get('VmHWM', 0) / 1024:.0f} MB")
    figures.add("operator CPU until all final",
                f"{cpu:.0f} s = {cpu / wall:.2f} cores = {cpu / n * 1000:.1f} ms per Transaction")
    # One interpreter lock: near 1 core, the proxies and the kubelet delay what they carry.
    figures.add("harness CPU (proxies, kubelet, emulator)", f"{harness:.0f} s = {harness / wall:.2f} cores")
    figures.add("idle afterwards", idle)
    figures.add("requests by verb and resource", "\n" + request_table(records, n))
    return figures


def hand_overs(bench: Bench, since: float) -> list[handover.HandOver]:
    """Per repository: a pod's termination (the API server's answer to the kubelet's final status
    write: from then on it can be observed) -> the next pod of that repository created (the
    operator's create reaching the proxy)."""
    ended = bench.terminations()
    by_repo: dict[str, list[invariants.PodCreation]] = collections.defaultdict(list)
    for pod in bench.pod_creations(since):
        by_repo[pod.labels.get(names.LABEL_REPOSITORY, "")].append(pod)
    found = []
    for pods in by_repo.values():
        for before, after in itertools.pairwise(pods):
            if before.name in ended and ended[before.name][1] <= after.at:
                predecessor = before.labels.get(names.LABEL_TRANSACTION_NAME, "")
                found.append(handover.HandOver(
                    repository=bench.transactions.get((bench.namespace, predecessor), ""),
                    predecessor=predecessor, ended=ended[before.name][1], end_sent=ended[before.name][0],
                    created=after.at, create_seconds=after.seconds))
    return found


class SilentEndpoint:
    """A TCP server on loopback that accepts connections and never answers: a slow Stratum 0."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentEndpoint:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        while await reader.read(65536):  # read the request, answer nothing; drop it when closed
            pass
        self._writers.remove(writer)
        writer.close()


class SharedClientStore:
    """A repository's objects in the benchmark's bucket through one shared boto3 client (a client
    per repository would cost the benchmark ~10 MB and 150 ms each)."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client, self._bucket, self._prefix = client, bucket, prefix

    def get(self, name: str) -> bytes | None:
        raise NotImplementedError  # seeding only writes

    def put(self, name: str, body: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=f"{self._prefix}/{name}", Body=body)


def idle_mix(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(fqrn, kind) for ``-m`` Repositories split by ``--mix HEALTHY,UNREACHABLE,SLOW`` weights."""
    weights = [float(w) for w in args.mix.split(",")]
    kinds = [kind for kind, w in zip(("healthy", "unreachable", "slow"), weights, strict=True) if w > 0]
    shares = [w for w in weights if w > 0]
    plan, credit = [], [0.0] * len(kinds)
    for fqrn in repo_names(args.repositories):  # interleaved, in proportion to the weights
        credit = [c + w / sum(shares) for c, w in zip(credit, shares, strict=True)]
        pick = max(range(len(kinds)), key=lambda i: credit[i])
        credit[pick] -= 1
        plan.append((fqrn, kinds[pick]))
    return plan


async def ready_reasons(bench: Bench) -> collections.Counter[str]:
    data = await bench.call(bench.kube.custom.list_cluster_custom_object, GROUP, VERSION, REPOSITORY_PLURAL)
    reasons: collections.Counter[str] = collections.Counter()
    for item in data.get("items", []):
        ready = [c for c in (item.get("status") or {}).get("conditions", []) if c["type"] == "Ready"]
        reasons[f"{ready[0]['status']}/{ready[0]['reason']}" if ready else "no status"] += 1
    return reasons


async def case_idle(bench: Bench) -> Figures:
    """(d) M idle Repositories, healthy (moto), unreachable (DNS) and slow (a silent TCP server):
    the operator's CPU and RSS over a steady-state window."""
    figures = Figures()
    args = bench.args
    await operator_ready(bench)
    if args.created_before:  # as after a restart: the operator finds them all at once
        await asyncio.to_thread(bench.operator.stop)
    plan = idle_mix(args)
    silent = SilentEndpoint()
    async with silent:
        client = simulated.Bucket(bench.s3_url, bench.bucket, "", ACCESS_KEY, SECRET_KEY).client()
        now = datetime.datetime.now(datetime.UTC)
        gate = asyncio.Semaphore(args.create_concurrency)

        async def create(fqrn: str, kind: str) -> None:
            async with gate:
                if kind == "healthy":
                    await asyncio.to_thread(simulated.seed_repository,
                                            SharedClientStore(client, bench.bucket, fqrn), fqrn, now)
                    await bench.create_repository(fqrn, endpoint=bench.s3_url, seed=False)
                elif kind == "unreachable":
                    await bench.create_repository(fqrn, endpoint=f"http://{fqrn.split('.')[0]}.s3.invalid:9000")
                else:
                    await bench.create_repository(fqrn, endpoint=silent.url)

        started = time.monotonic()
        await asyncio.gather(*(create(fqrn, kind) for fqrn, kind in plan))
        created = time.monotonic() - started
        figures.add("created (all) in", f"{created:.1f} s ({len(plan) / created:.0f} Repositories/s)"
                    + (", the operator stopped" if args.created_before else ""))
        if args.created_before:
            restarted, started = time.time(), time.monotonic()
            bench.operator.start()
            for _ in range(600):  # watching again within 60 s
                if any(r.info.watch and r.started >= restarted for r in bench.proxy.records):
                    break
                await asyncio.sleep(0.1)
        deadline = time.monotonic() + args.timeout
        reasons = await ready_reasons(bench)
        while reasons.get("no status") and time.monotonic() < deadline:
            await asyncio.sleep(5)
            reasons = await ready_reasons(bench)
        figures.add("every Repository has a status after", f"{time.monotonic() - started:.0f} s"
                    + (" (TIMED OUT)" if reasons.get("no status") else ""))
        await asyncio.sleep(args.settle)
        assert bench.operator.process is not None
        pid = bench.operator.process.pid
        cpu0, t0, n0 = cpu_seconds(pid), time.monotonic(), len(bench.proxy.records)
        samples = []
        while time.monotonic() - t0 < args.window:
            await asyncio.sleep(1)
            samples.append(proc_status(pid).get("VmRSS", 0))
        cpu, elapsed = cpu_seconds(pid) - cpu0, time.monotonic() - t0
        status = proc_status(pid)
        reasons = await ready_reasons(bench)
    counts = collections.Counter(kind for _, kind in plan)
    figures.add("Repositories (healthy / unreachable / slow)",
                f"{len(plan)} ({counts['healthy']} / {counts['unreachable']} / {counts['slow']})")
    figures.add("window", f"{elapsed:.0f} s after {args.settle:.0f} s settling")
    figures.add("operator CPU", f"{cpu / elapsed:.3f} cores")
    figures.add("operator RSS now / max in window / peak (VmHWM)",
                f"{status['VmRSS'] / 1024:.0f} / {max(samples) / 1024:.0f} / {status['VmHWM'] / 1024:.0f} MB")
    figures.add("API requests/s in window", f"{(len(bench.proxy.records) - n0) / elapsed:.1f}")
    figures.add("Ready status/reason after the window", dict(sorted(reasons.items())))
    return figures


def dump(records: Iterable[Record], path: str) -> None:
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps({"t": r.started, "verb": r.info.verb, "resource": resource_label(r.info),
                                "namespace": r.info.namespace, "name": r.info.name, "status": r.status,
                                "fault": r.fault, "duration": r.duration}) + "\n")


async def outcomes(bench: Bench) -> str:
    """Where the Transactions ended, as phase/reason counts."""
    data = await bench.call(bench.kube.custom.list_namespaced_custom_object, GROUP, VERSION, bench.namespace,
                            TRANSACTION_PLURAL)
    statuses = [item.get("status") or {} for item in data.get("items", [])]
    counts = collections.Counter(f"{status.get('phase')}/{status.get('reason')}" for status in statuses)
    return ", ".join(f"{n} {what}" for what, n in counts.most_common())


async def start_burst(bench: Bench, prefix: str, later: int = 0
                      ) -> tuple[list[tuple[str, str]], float]:
    """The Repositories, then every Transaction but the ``later`` last ones at once; the plan
    (name, repository) and when the Transactions were created."""
    args = bench.args
    repos = repo_names(args.repositories)
    for fqrn in repos:
        await bench.create_repository(fqrn)
    await bench.wait_idle(timeout=60)
    start = time.time()
    plan = [(f"{prefix}-{i:04d}", repos[i % len(repos)]) for i in range(args.transactions)]
    await asyncio.gather(*(bench.create_transaction(name, fqrn) for name, fqrn in plan[:len(plan) - later]))
    return plan, start


async def case_sigkill(bench: Bench) -> Figures:
    """The operator SIGKILLed at seeded moments and restarted each time (tests/support/killer.py)
    while N Transactions over M Repositories, created at once, are worked off."""
    figures = Figures()
    args = bench.args
    await operator_ready(bench)
    later = min(args.kills, args.transactions // 2)  # one after each restart: work in flight to the end
    plan, start = await start_burst(bench, "kill", later)

    async def one_more(kills_so_far: int) -> None:
        if kills_so_far <= later:
            await bench.create_transaction(*plan[len(plan) - later + kills_so_far - 1])
    kills = killer.Killer(bench.operator, bench.proxy, killer.schedule(args.kills, args.seed), seed=args.seed,
                          after_restart=one_more)
    await kills.run()
    killing = time.time() - start
    left = sum(1 for phase in (await bench.phases()).values() if phase not in invariants.FINAL)
    done = await bench.wait_final([name for name, _ in plan], timeout=args.timeout)
    wall = time.time() - start
    idle = await bench.wait_idle(timeout=60)
    figures.add("Transactions / Repositories", f"{len(plan)} / {args.repositories}")
    figures.add("kills (seed)", f"{kills.summary()} (seed {args.seed}); {later} of the Transactions "
                "created one after each of the first restarts")
    figures.add("kills done after", f"{killing:.1f} s, {left} Transactions not final then")
    figures.add("operator exited by itself", len(kills.exited))
    figures.add("wall time until all final", f"{wall:.1f} s" + ("" if done else " (TIMED OUT)"))
    figures.add("idle afterwards", idle)
    figures.add("outcomes", await outcomes(bench))
    return figures


async def case_replicas(bench: Bench) -> Figures:
    """Two operator processes at once, each through its own recording proxy, as a Deployment with
    replicas: 2 runs them; the second SIGKILLed (not restarted) once half the Transactions are final."""
    figures = Figures()
    args = bench.args
    await operator_ready(bench)
    faults = Faults(rate=args.fault_rate, cut_after=args.cut_after, seed=args.seed + 1)
    async with ApiProxy(bench.proxy.upstream, faults, impersonate=args.impersonate) as proxy_b:
        second = OperatorProcess(operator_env(args, proxy_b.url, bench.operator_namespace),
                                 bench.operator.log_path.with_name("operator-b.log"))
        second.start()
        try:
            if not await runs.watching(proxy_b.records):
                raise SystemExit(f"the second replica did not start; log: {second.log_path}")
            plan, start = await start_burst(bench, "rep")
            names_ = [name for name, _ in plan]

            async def half_final() -> bool:
                phases = await bench.phases()
                return sum(1 for n in names_ if phases.get(n) not in invariants.FINAL) <= len(plan) // 2
            await runs.until(half_final, args.timeout)
            moment = killer.Moment("after a Transaction status write", "patch", "transactions/status")
            kills = killer.Killer(second, proxy_b, [moment], restart=False, patience=60.0,
                                  arm_after=(0.0, 0.0))
            await kills.run()
            left = sum(1 for phase in (await bench.phases()).values() if phase not in invariants.FINAL)
            done = await bench.wait_final(names_, timeout=args.timeout)
            wall = time.time() - start
            idle = await bench.wait_idle(timeout=60)
        finally:
            await asyncio.to_thread(second.stop)
        bench.other_records = list(proxy_b.records)
    report = replica_report({"A": bench.proxy.records, "B": bench.other_records}, len(plan))
    if not report.conflicting_finals:
        bench.tolerated.add("final phase written more than once")  # by both, with the same content
    figures.add("Transactions / Repositories", f"{len(plan)} / {args.repositories}")
    figures.add("replica B killed", f"{kills.summary()}, {left} Transactions not final then")
    figures.add("wall time until all final", f"{wall:.1f} s" + ("" if done else " (TIMED OUT)"))
    figures.add("idle afterwards", idle)
    figures.add("outcomes", await outcomes(bench))
    figures.add("Transactions with two different final statuses", len(report.conflicting_finals))
    figures.add("what each replica did", "\n" + report.table())
    return figures


CASES = {"single": case_single, "sequential": case_sequential, "burst": case_burst, "idle": case_idle,
         "sigkill": case_sigkill, "replicas": case_replicas}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("-n", "--transactions", type=int, default=None,
                        help="Transactions (sequential: 10, burst: 24)")
    parser.add_argument("-m", "--repositories", type=int, default=None,
                        help="Repositories (burst: 6, idle: 50)")
    parser.add_argument("--repeat", type=int, default=5, help="single: how many times (p50 over them)")
    parser.add_argument("--pod-seconds", type=float, default=0.5, help="how long each publisher pod runs")
    parser.add_argument("--window", type=float, default=30.0, help="idle: measuring window (seconds)")
    parser.add_argument("--mix", default="1,1,1",
                        help="idle: weights of healthy, unreachable, slow Repositories (0,1,0: unreachable)")
    parser.add_argument("--create-concurrency", type=int, default=8,
                        help="idle: Repositories created (and seeded) at once")
    parser.add_argument("--created-before", action="store_true",
                        help="idle: create the Repositories with the operator stopped, then start it")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to let the operator settle first")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline for the Transactions to end")
    parser.add_argument("--reconcile-interval", type=float, default=10.0, help="operator setting")
    parser.add_argument("--health-interval", type=float, default=60.0, help="operator setting")
    parser.add_argument("--s3-timeout", type=float, default=10.0, help="operator setting")
    parser.add_argument("--api-qps", type=float, default=50.0,
                        help="the operator's client-side rate limit (CVMFS_OPERATOR_API_QPS; its default "
                        "50; 0: none): at ~11 requests per Transaction it bounds a burst to ~4.5 per second")
    parser.add_argument("--api-burst", type=int, default=100, help="CVMFS_OPERATOR_API_BURST")
    parser.add_argument("--kubeconfig", default=None,
                        help="a real cluster instead of the emulator (its nodes must not run the pods)")
    parser.add_argument("--impersonate", default=None,
                        help="real cluster: send the operator's requests as this user, e.g. "
                             "system:serviceaccount:<ns>:<sa> (to run under the chart's RBAC)")
    parser.add_argument("--operator-source", default=None,
                        help="directory holding another cvmfs_operator package to run (PYTHONPATH)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fraction answered 500/429/409")
    parser.add_argument("--cut-after", type=lambda s: tuple(float(x) for x in s.split(",")), default=None,
                        help="cut watch streams after LOW,HIGH seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=None,
                        help="sigkill: how many kills (default: one per Transaction)")
    parser.add_argument("--dump", default=None, help="write every recorded request to this JSON-lines file")
    args = parser.parse_args(argv)
    if args.transactions is None:
        args.transactions = {"sequential": 10, "burst": 24, "sigkill": 200, "replicas": 100}.get(args.case, 1)
    if args.repositories is None:
        args.repositories = {"burst": 6, "idle": 50, "sigkill": 10, "replicas": 10}.get(args.case, 1)
    if args.kills is None:
        args.kills = args.transactions
    return args


async def main_async(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="cvmfs-bench-"))
    started = time.time()
    async with bench_environment(args, workdir) as bench:
        figures = await CASES[args.case](bench)
        found = await asyncio.to_thread(bench.check) if args.case != "idle" else None
        injected = sum(1 for r in bench.proxy.records if r.fault)
        where = "emulator" if bench.emulated else f"kubeconfig {args.kubeconfig}"
        figures.add("API server", where)
        figures.add("operator requests (all) / faults injected / watches cut",
                    f"{len(bench.proxy.records)} / {injected} / {len(bench.proxy.cuts)}")
        durations = [r.duration for r in bench.proxy.records if not r.info.watch and not r.fault]
        figures.add("API latency p50 / p99 (as the operator saw it)",
                    f"{ms(percentile(durations, 50))} / {ms(percentile(durations, 99))}")
        figures.add("total run time", f"{time.time() - started:.0f} s")
        if args.dump:
            await asyncio.to_thread(dump, bench.proxy.records, args.dump)
        figures.print(f"{args.case}: n={args.transactions} m={args.repositories} pod={args.pod_seconds}s")
        violations = {} if found is None else {k: n for k, n in found.violations().items()
                                               if k not in bench.tolerated}
        if found is not None:
            print("\n== invariants (counts; all must be 0)")
            print(found.table())
            if bench.tolerated:
                print(f"  (not violations in this case: {', '.join(sorted(bench.tolerated))})")
        log = bench.operator.log()
        print(f"\noperator log: {bench.operator.log_path} ({log.count('Traceback')} tracebacks)")
    return 1 if violations else 0


def main() -> None:
    sys.exit(asyncio.run(main_async(parse_args())))


if __name__ == "__main__":
    main()
