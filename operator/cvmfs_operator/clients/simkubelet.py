"""A simulated kubelet for the demo and the tests: a stand-in for nodes on API-only clusters.

It plays the node's part over the Kubernetes API: it watches pods in one namespace, moves
them through Pending → Running → Succeeded/Failed, enforces ``activeDeadlineSeconds`` like a real
kubelet (phase Failed, reason DeadlineExceeded) and writes the container's termination message.
What each pod does is decided by a ``fate`` function; the default pretends to publish and reports
the next revision of the repository named in the pod's publisher config.

It also records every moment two publisher pods of one repository were active at once, which must
never happen.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import functools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api import operation_contract as oc
from cvmfs_operator.clients import watch
from cvmfs_operator.clients.errors import KubeError, NotFound
from cvmfs_operator.clients.kube import MERGE_PATCH, KubeClient
from cvmfs_operator.render import names


@dataclass(frozen=True)
class Fate:
    """What a simulated pod does: run for ``seconds`` then end as described (or never end)."""

    seconds: float = 0.2
    exit_code: int = 0
    message: str | None = None  # the termination message; None lets the default result be used
    hang: bool = False
    stage_exit_code: int | None = None  # when set, the stage init container ends with this code
    vanish: bool = False  # the pod disappears (node lost) instead of ending; no result is left
    publishes: bool = True  # a vanishing pod may still have published before it went

    @staticmethod
    def fail(error_class: contract.ErrorClass, text: str, seconds: float = 0.2,
             log: list[str] | None = None) -> Fate:
        result: contract.PublisherResult = {
            "contractVersion": contract.CONTRACT_VERSION, "outcome": contract.Outcome.FAILED.value,
            "errorClass": error_class.value, "step": "publish", "message": text,
            "revisionBefore": None, "revisionAfter": None, "rootHash": None, "tag": None,
            "reflogChecksum": None, "durations": {}, "leaseToken": None, "logTail": log or [],
        }
        return Fate(seconds=seconds, exit_code=int(contract.EXIT_CODES[error_class]),
                    message=contract.encode_result(result).decode())


FINALIZER = "cvmfs.cern.ch/simulated-kubelet"
FateFn = Callable[[dict[str, Any]], Fate]
PublishFn = Callable[[contract.PublisherConfig], contract.PublisherResult]
OperateFn = Callable[[oc.OperationConfig], oc.OperationResult]  # what an operation pod does
POD_COMPONENTS = (names.COMPONENT_PUBLISHER, names.COMPONENT_OPERATION)  # the pods it runs
MAX_PODS = 128  # pods run at once (a node runs up to 110); more wait for a worker
WRITE_ATTEMPTS = 10  # 0.5 s apart
# Where the container's log goes (namespace, pod, line; None when the container ended): what
# the pods log subresource serves, e.g. ApiEmulator.write_pod_log.
PodLogSink = Callable[[str, str, str | None], None]


@dataclass
class Activity:
    """What the kubelet saw: publisher pods started, per repository, and any overlap."""

    started: list[tuple[str, str]] = field(default_factory=list)  # (repository label, pod name)
    overlaps: list[str] = field(default_factory=list)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Run:
    """One pod as this kubelet runs it: first seen at ``started``; ``deleted`` once the API server
    shows its deletion; ``done`` once its worker has returned (under the kubelet's lock)."""

    started: datetime.datetime
    fate: Fate
    deleted: threading.Event = field(default_factory=threading.Event)
    done: bool = False


class SimulatedKubelet:
    """A node's pod lifecycle, driven by a watch on the namespace's pods, one worker per pod.

    As on a node, pods are independent: each runs on its own worker from the moment the watch
    shows it (its fate's ``seconds`` count from then), so a burst of pods or a slow API server
    delays no pod behind another. The watch also feeds the overlap check: after every event the
    pods of the event's repository that the API server shows as active (neither ended nor being
    deleted) are counted, a consistent view at that resourceVersion.
    """

    def __init__(self, kube: KubeClient, namespace: str, fate: FateFn | None = None,
                 resync: float = 1.0, publish: PublishFn | None = None, pod_log: PodLogSink | None = None,
                 operate: OperateFn | None = None) -> None:
        self.kube = kube
        self.operate = operate  # what a successful operation pod does; None: report success only
        self.pod_log = pod_log
        self.publish = publish  # what a successful pod does to the repository; None: nothing
        self.namespace = namespace
        self.fate = fate or (lambda pod: Fate())
        self.resync = resync  # how often every known pod is looked at again without an event
        self.activity = Activity()
        self.revisions: dict[str, int] = {}
        self._runs: dict[str, _Run] = {}
        self._released: set[str] = set()  # deleted pods whose finalizer was (being) taken off
        self._stop = threading.Event()
        self._workers = concurrent.futures.ThreadPoolExecutor(MAX_PODS, thread_name_prefix="kubelet")
        self._lock = threading.Lock()
        self._watch = watch.Watcher(kube.core.list_namespaced_pod, namespace, {}, self._changed,
                                    "simulated kubelet", on_gap=self._resync_now)
        self._resyncer: threading.Thread | None = None

    def start(self) -> None:
        self._watch.start()
        self._resyncer = threading.Thread(target=self._resync_loop, name="simulated-kubelet", daemon=True)
        self._resyncer.start()

    def stop(self) -> None:
        self._stop.set()
        for run in list(self._runs.values()):
            run.deleted.set()  # unblock waiting workers; they see the stop and write nothing more
        self._watch.stop()
        if self._resyncer is not None:
            self._resyncer.join(timeout=10)
        self._workers.shutdown(wait=True)
        with contextlib.suppress(KubeError):
            self.release_all()

    def _pods(self) -> list[dict[str, Any]]:
        return [pod for component in POD_COMPONENTS
                for pod in self.kube.list_pods(self.namespace, {names.LABEL_COMPONENT: component})]

    def release_all(self) -> None:
        """Remove this kubelet's finalizer from every pod (when the simulation stops)."""
        for pod in self._pods():
            if FINALIZER in (pod["metadata"].get("finalizers") or []):
                self._set_finalizer(pod["metadata"]["name"], present=False)

    # The watch thread: decide, never block (the work goes to the pod's worker).

    def _changed(self, kind: str, meta: Mapping[str, Any]) -> None:
        if (meta.get("labels") or {}).get(names.LABEL_COMPONENT) not in POD_COMPONENTS:
            return
        name = str(meta.get("name"))
        if kind == "DELETED":
            with self._lock:
                self._runs.pop(name, None)  # a pod of that name created again is a new pod
                self._released.discard(name)
            return
        pod = self._watch.store.get(self.namespace, name)
        if pod is not None:
            self._handle(pod)
            self._check_overlap((meta.get("labels") or {}).get(names.LABEL_REPOSITORY, ""))

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.resync):
            self._resync_now()

    def _resync_now(self) -> None:
        """Pods a complete list brought (the watch's first list, a relist after a gap) come with
        no event: look at every known pod."""
        for pod in self._watch.store.select({}):
            if (pod["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) in POD_COMPONENTS:
                self._handle(pod)

    def _handle(self, pod: dict[str, Any]) -> None:
        if self._stop.is_set():
            return
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        ended = phase in ("Succeeded", "Failed")
        with self._lock:
            run = self._runs.get(name)
            if pod["metadata"].get("deletionTimestamp"):
                if run is not None and not run.done:
                    run.deleted.set()  # its worker stops it and lets it go
                    return
                if name in self._released:
                    return
                self._released.add(name)
                job: Callable[[], None] = functools.partial(self._terminate, pod, ended=ended)
            elif run is not None or ended:
                return
            else:
                run = self._runs[name] = _Run(_now(), self.fate(pod))
                repo = pod["metadata"].get("labels", {}).get(names.LABEL_REPOSITORY, "")
                self.activity.started.append((repo, name))
                job = functools.partial(self._run, pod, run)
        self._workers.submit(self._guarded, job)

    def _check_overlap(self, repo: str) -> None:
        active = sorted(
            pod["metadata"]["name"] for pod in self._watch.store.select({names.LABEL_REPOSITORY: repo})
            if (pod["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) in POD_COMPONENTS
            and not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
        if len(active) > 1:
            with self._lock:
                self.activity.overlaps.append(f"{repo}: {active}")

    # A pod's worker.

    @staticmethod
    def _guarded(job: Callable[[], None]) -> None:
        with contextlib.suppress(KubeError):  # the API server stayed unreachable: the pod stays as it is
            job()

    def _write(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """One write of the node's, tried again while the API server fails (as a kubelet does);
        a pod that is gone is not an error."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.kube._call(what, call, *args, _content_type=MERGE_PATCH)
                return
            except NotFound:
                return
            except KubeError:
                if attempt == WRITE_ATTEMPTS - 1 or self._stop.wait(0.5):
                    raise

    def _patch_status(self, name: str, status: dict[str, Any]) -> None:
        self._write(f"patch status of pod {name}", self.kube.core.patch_namespaced_pod_status,
                    name, self.namespace, {"status": status})

    def _set_finalizer(self, name: str, present: bool) -> None:
        # Like a node, hold a deleted pod until its container has stopped (the grace period).
        patch = {"metadata": {"finalizers": [FINALIZER] if present else []}}
        self._write(f"patch pod {name}", self.kube.core.patch_namespaced_pod, name, self.namespace, patch)

    def _terminate(self, pod: dict[str, Any], *, ended: bool) -> None:
        """A deleted pod: stop its container (SIGTERM: the publisher aborts) and let it go."""
        name = pod["metadata"]["name"]
        if not ended:
            self._finish(pod, "Failed", {}, exit_code=int(contract.ExitCode.CANCELLED),
                         message=_cancelled_operation(pod) if _is_operation(pod) else _cancelled_result(pod))
        self._set_finalizer(name, present=False)

    def _run(self, pod: dict[str, Any], run: _Run) -> None:
        """Start the pod, let it run its fate (or until it is deleted) and end it; a pod deleted
        meanwhile is stopped and let go here (the watch thread leaves that to its worker)."""
        ended = False
        try:
            self._start(pod, run)
            ended = self._wait_and_end(pod, run)
        finally:
            name = pod["metadata"]["name"]
            with self._lock:
                run.done = True
                release = run.deleted.is_set() and not self._stop.is_set() and name not in self._released
                if release:
                    self._released.add(name)
        if release:
            self._terminate(pod, ended=ended)

    def _start(self, pod: dict[str, Any], run: _Run) -> None:
        name = pod["metadata"]["name"]
        self._set_finalizer(name, present=True)
        self._log(name, "STEP configure started")
        labels = pod["metadata"].get("labels", {})
        txn = labels.get(names.LABEL_TRANSACTION_NAME) or labels.get(names.LABEL_OPERATION_NAME, "?")
        self._log(name, f"INFO [simulated] {_main(pod)} for {txn} running")
        self._patch_status(name, {
            "phase": "Running", "startTime": _stamp(run.started),
            "containerStatuses": [self._container(pod, {"running": {"startedAt": _stamp(run.started)}},
                                                  _main(pod))],
        })

    def _wait_and_end(self, pod: dict[str, Any], run: _Run) -> bool:
        """Wait for the pod's end (its fate, or ``activeDeadlineSeconds`` as the kubelet enforces
        it) and write it; False when the pod was deleted (or the kubelet stopped) first."""
        fate = run.fate
        deadline = pod["spec"].get("activeDeadlineSeconds")
        ends = [float(deadline)] if deadline is not None else []
        if not fate.hang:
            ends.append(fate.seconds)
        elapsed = (_now() - run.started).total_seconds()
        timeout = max(0.0, min(ends) - elapsed) if ends else None
        if run.deleted.wait(timeout) or self._stop.is_set():
            return False
        name = pod["metadata"]["name"]
        if deadline is not None and (fate.hang or float(deadline) < fate.seconds):
            self._finish(pod, "Failed", {"reason": "DeadlineExceeded",
                                         "message": f"Pod was active on the node longer than {deadline}s"},
                         exit_code=143, message=None)
            return True
        if fate.vanish:
            if fate.publishes:
                self._default_result(pod)  # the publish happens, its result is lost with the pod
            self._set_finalizer(name, present=False)
            with self._lock:
                self._released.add(name)
            self.kube.delete_pod(self.namespace, name)
            return True
        if fate.stage_exit_code not in (None, 0):
            self._finish(pod, "Failed", {}, exit_code=None, message=None, stage_exit=fate.stage_exit_code)
            return True
        exit_code = fate.exit_code
        if fate.message is not None:
            message = fate.message
        else:  # the publish itself decides, as the publisher's exit code does
            message = self._default_result(pod)
            error = json.loads(message).get("errorClass")
            if error and _is_operation(pod):
                exit_code = int(oc.OPERATION_EXIT_CODES[oc.OperationErrorClass(error)])
            elif error:
                exit_code = int(contract.EXIT_CODES[contract.ErrorClass(error)])
        self._finish(pod, "Succeeded" if exit_code == 0 else "Failed", {},
                     exit_code=exit_code, message=message)
        return True

    def _container(self, pod: dict[str, Any], state: dict[str, Any],
                   name: str = "publisher") -> dict[str, Any]:
        image = next((c.get("image", "") for c in pod["spec"].get("containers", []) if c["name"] == name),
                     "simulated")
        return {"name": name, "image": image or "simulated", "imageID": "", "ready": "running" in state,
                "restartCount": 0, "state": state}

    def _finish(self, pod: dict[str, Any], phase: str, extra: dict[str, Any], exit_code: int | None,
                message: str | None, stage_exit: int | None = None) -> None:
        now = _stamp(_now())
        name = pod["metadata"]["name"]
        self._log_result(name, message)
        status: dict[str, Any] = {"phase": phase, **extra}
        if stage_exit is not None:
            status["initContainerStatuses"] = [self._container(pod, {"terminated": {
                "exitCode": stage_exit, "reason": "Error", "message": "stage: build failed\n",
                "startedAt": now, "finishedAt": now}}, name="stage")]
        elif exit_code is not None:
            terminated: dict[str, Any] = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0
                                          else "Error", "startedAt": now, "finishedAt": now}
            if message is not None:
                terminated["message"] = message
            status["containerStatuses"] = [self._container(pod, {"terminated": terminated}, _main(pod))]
        with contextlib.suppress(NotFound):
            self._patch_status(name, status)

    def _log(self, pod: str, line: str | None) -> None:
        if self.pod_log is not None:
            stamp = _now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            self.pod_log(self.namespace, pod, None if line is None else f"{stamp} {line}")

    def _log_result(self, pod: str, message: str | None) -> None:
        """The lines a publisher would have logged, from its result; then the container ends."""
        try:
            result = contract.decode_result(message) if message else None
        except ValueError:
            result = None
        if result is not None:
            for line in result["logTail"]:
                self._log(pod, f"OUT {line}")
            self._log(pod, f"{'INFO' if result['outcome'] == 'Succeeded' else 'ERROR'} {result['message']}")
        self._log(pod, None)

    def _default_result(self, pod: dict[str, Any]) -> str:
        env = pod["spec"]["containers"][0].get("env", [])
        if _is_operation(pod):
            raw_op = next((e.get("value", "") for e in env if e.get("name") == oc.OPERATION_CONFIG_ENV), "{}")
            op_config = oc.decode_operation_config(raw_op)
            if self.operate is not None:
                return json.dumps(self.operate(op_config))
            return json.dumps(_operation_result(op_config, contract.Outcome.SUCCEEDED.value, None,
                                                f"{op_config['operation']} done (simulated)"))
        raw = next((e.get("value", "") for e in env if e.get("name") == contract.CONFIG_ENV), "{}")
        config = contract.decode_config(raw)
        if self.publish is not None:
            return json.dumps(self.publish(config))
        with self._lock:
            before = self.revisions.get(config["fqrn"], config.get("revisionBefore") or 1)
            after = before + 1
            self.revisions[config["fqrn"]] = after
        result: contract.PublisherResult = {
            "contractVersion": contract.CONTRACT_VERSION, "outcome": contract.Outcome.SUCCEEDED.value,
            "errorClass": None, "step": None, "message": f"published revision {after}",
            "revisionBefore": before, "revisionAfter": after, "rootHash": f"{after:040x}",
            "tag": config["tagName"], "reflogChecksum": f"{after * 7:040x}",
            "durations": {"mount": 0.1, "payload": 0.1, "publish": 0.1}, "leaseToken": None,
            "logTail": [f"[simulated] published {config['fqrn']} revision {after}"],
        }
        return json.dumps(result)


def _cancelled_result(pod: dict[str, Any]) -> str:
    """What the publisher writes when SIGTERM stops it: aborted, nothing published."""
    tag = pod["metadata"].get("annotations", {}).get("cvmfs.cern.ch/tag")
    result: contract.PublisherResult = {
        "contractVersion": contract.CONTRACT_VERSION, "outcome": contract.Outcome.CANCELLED.value,
        "errorClass": contract.ErrorClass.CANCELLED.value, "step": "payload",
        "message": "cancelled by SIGTERM during payload; the transaction was aborted",
        "revisionBefore": None, "revisionAfter": None, "rootHash": None, "tag": tag,
        "reflogChecksum": None, "durations": {}, "leaseToken": None,
        "logTail": ["[simulated] SIGTERM: cvmfs_server abort -f"],
    }
    return contract.encode_result(result).decode()


def _is_operation(pod: dict[str, Any]) -> bool:
    return bool((pod["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_OPERATION)


def _main(pod: dict[str, Any]) -> str:
    """The name of the pod's one container ("publisher", or "operation" in an operation pod)."""
    containers = pod["spec"].get("containers") or [{}]
    return str(containers[0].get("name") or "publisher")


def _operation_result(config: oc.OperationConfig | None, outcome: str, error: str | None,
                      message: str) -> oc.OperationResult:
    return {
        "contractVersion": oc.OPERATION_CONTRACT_VERSION,
        "operation": config["operation"] if config else "unknown", "outcome": outcome,
        "errorClass": error, "step": None if error is None else "operate", "message": message,
        "revisionBefore": config.get("revisionBefore") if config else None, "revisionAfter": None,
        "rootHash": None, "reflogChecksum": None, "whitelistExpiry": None, "gc": None, "check": None,
        "durations": {}, "logTail": [f"[simulated] {message}"],
    }


def _cancelled_operation(pod: dict[str, Any]) -> str:
    """What the operation program writes when SIGTERM stops it."""
    result = _operation_result(None, contract.Outcome.CANCELLED.value, oc.OperationErrorClass.CANCELLED.value,
                               "cancelled by SIGTERM; a transaction the command opened was aborted")
    return oc.encode_operation_result(result).decode()
