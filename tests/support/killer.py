"""SIGKILL for the operator at chosen moments, and a restart after each (issue 11, "Faults").

A moment is either a request of the operator's that the API server accepted (a pod or a Lease
created or deleted, a status written, an Event posted) or a number of seconds after the process
started (during start-up, while it works, while it waits). A request moment is caught by the
recording proxy's hook (:attr:`ApiProxy.listeners`), which runs after the API server answered and
before the answer goes back: the write happened, the operator never learns it. A seeded schedule
picks the moments; the operator is started again right after each kill, as a Deployment's
ReplicaSet would (without the kubelet's crash-loop backoff).

The kill is ``os.kill(pid, SIGKILL)``: no handler runs, nothing is flushed or released.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cvmfs_operator.api.types import TRANSACTION_PLURAL
from tests.support.apiproxy import ApiProxy, Record, resource_label
from tests.support.cluster import OperatorProcess


@dataclass(frozen=True)
class Moment:
    """When to kill: right after an accepted ``verb`` on ``resource`` (``transactions/status``
    style, as RBAC names subresources), or ``seconds`` after the process started."""

    label: str
    verb: str = ""
    resource: str = ""
    seconds: float = 0.0
    phase: str = ""  # only a status write of this phase (e.g. the final Succeeded)

    @property
    def timed(self) -> bool:
        return not self.verb

    def matches(self, record: Record) -> bool:
        if self.timed or record.info.verb != self.verb or record.info.full_resource != self.resource \
                or not 200 <= record.status < 300 or record.fault:
            return False
        return not self.phase or written_phase(record) == self.phase


# The writes that move a Transaction on, with how often each is drawn: the pod and the Lease
# creations and the lock's hand-over to the next Transaction (a patch of its holder) are where a
# crash could start a second publisher, the status writes where it could lose or repeat a result.
REQUEST_MOMENTS: tuple[tuple[Moment, int], ...] = (
    (Moment("after a pod create", "create", "pods"), 4),
    (Moment("after a Lease create", "create", "leases"), 3),
    (Moment("after a Lease hand-over", "patch", "leases"), 3),
    (Moment("after a Transaction status write", "patch", "transactions/status"), 4),
    (Moment("after a pod delete", "delete", "pods"), 2),
    (Moment("after a Lease delete", "delete", "leases"), 2),
    (Moment("after a Repository status write", "patch", "repositories/status"), 1),
    (Moment("after an Event", "create", "events"), 1),
)
TIMED_LABEL = "at a random time"


def schedule(kills: int, seed: int, *, timed_share: float = 0.25,
             timed_seconds: tuple[float, float] = (0.2, 3.0)) -> list[Moment]:
    """``kills`` moments in an order drawn with ``random.Random(seed)``: each of
    :data:`REQUEST_MOMENTS` and one timed moment at least once (when ``kills`` allows), the rest
    drawn: ``timed_share`` of them timed (uniform in ``timed_seconds`` after the start, so some fall
    in kopf's start-up), the others right after a request, by the moments' weights."""
    rng = random.Random(seed)
    moments, weights = zip(*REQUEST_MOMENTS, strict=True)

    def timed() -> Moment:
        return Moment(TIMED_LABEL, seconds=round(rng.uniform(*timed_seconds), 2))
    drawn = [*moments, timed()][:kills]
    while len(drawn) < kills:
        drawn.append(timed() if rng.random() < timed_share else rng.choices(moments, weights)[0])
    rng.shuffle(drawn)
    return drawn


def written_phase(record: Record) -> str | None:
    try:
        body = json.loads(record.body or b"{}")
    except ValueError:
        return None
    status = body.get("status") if isinstance(body, dict) else None
    phase = status.get("phase") if isinstance(status, dict) else None
    return None if phase is None else str(phase)


def _created_name(record: Record) -> str:
    if record.info.verb != "create" or not record.body:
        return ""
    try:
        body = json.loads(record.body)
    except ValueError:
        return ""
    meta = body.get("metadata") if isinstance(body, dict) else None
    return str(meta.get("name") or meta.get("generateName") or "") if isinstance(meta, dict) else ""


def dump(records: Iterable[Record], path: Path) -> None:
    """The proxy's request log as JSON lines (the evidence a failed run leaves)."""
    with open(path, "w") as f:
        for r in records:
            line = {"t": round(r.started, 3), "verb": r.info.verb, "resource": resource_label(r.info),
                    "namespace": r.info.namespace, "name": r.info.name or _created_name(r),
                    "status": r.status, "fault": r.fault, "phase": written_phase(r) if r.body else None}
            f.write(json.dumps(line) + "\n")


@dataclass(frozen=True)
class Kill:
    moment: Moment
    at: float  # time.time() of the kill
    uptime: float  # seconds the killed process had run
    trigger: str  # the request after which it was killed, "timed", or why it fell back to a timeout


@dataclass
class Killer:
    """Runs ``moments`` against ``operator``, whose only way to the API server is ``proxy``.

    For a request moment the trigger is armed ``arm_after`` seconds (drawn per kill) after the
    process is up (kopf watches Transactions), so it is not always the first such request; when
    none comes within ``patience`` seconds the process is killed anyway (recorded as such).
    ``restart=False`` kills without starting again (a replica that stays dead).
    ``after_restart(kills so far)`` runs after each restart, e.g. to create more work, so that
    later kills still find Transactions in flight."""

    operator: OperatorProcess
    proxy: ApiProxy
    moments: Sequence[Moment]
    seed: int = 0
    patience: float = 10.0
    startup_limit: float = 60.0  # seconds a restarted process may take to come up
    arm_after: tuple[float, float] = (0.0, 1.0)
    restart: bool = True
    after_restart: Callable[[int], Awaitable[None]] | None = None
    kills: list[Kill] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)  # processes found dead before their kill
    restarts: list[float] = field(default_factory=list)  # time.time() of each restart
    _armed: Moment | None = None
    _fired: asyncio.Event = field(default_factory=asyncio.Event)
    _started: float = field(default_factory=time.monotonic)
    _started_at: float = 0.0  # time.time() of the last start (0: started before run())

    async def run(self) -> list[Kill]:
        rng = random.Random(self.seed)
        self._started = time.monotonic()
        self.proxy.listeners.append(self._seen)
        try:
            for moment in self.moments:
                if moment.timed:
                    await asyncio.sleep(max(0.0, self._started + moment.seconds - time.monotonic()))
                    self._kill(moment, "timed")
                else:
                    up = await self._up()
                    await asyncio.sleep(max(0.0, up + rng.uniform(*self.arm_after) - time.monotonic()))
                    self._fired.clear()
                    self._armed = moment
                    try:
                        await asyncio.wait_for(self._fired.wait(), self.patience)
                    except TimeoutError:
                        self._armed = None
                        self._kill(moment, f"no such request within {self.patience:.0f} s")
                await asyncio.to_thread(self._reap_and_restart)
                if self.after_restart is not None:
                    await self.after_restart(len(self.kills))
        finally:
            self._armed = None
            self.proxy.listeners.remove(self._seen)
        return self.kills

    async def _up(self) -> float:
        """Wait until the process watches Transactions; when it did (monotonic clock)."""
        deadline = time.monotonic() + self.startup_limit
        while time.monotonic() < deadline:
            for r in reversed(self.proxy.records):
                if r.started < self._started_at:
                    break
                if r.info.watch and r.info.resource == TRANSACTION_PLURAL:
                    return time.monotonic()
            await asyncio.sleep(0.05)
        return time.monotonic()

    def _seen(self, record: Record) -> None:
        """The proxy's hook: runs on the proxy's event loop before the response is sent."""
        moment = self._armed
        if moment is not None and moment.matches(record):
            self._armed = None
            self._kill(moment, f"{record.info.verb} {resource_label(record.info)} {record.info.name}")
            self._fired.set()

    def _kill(self, moment: Moment, trigger: str) -> None:
        process = self.operator.process
        assert process is not None, "the operator is not running"
        code = process.poll()
        if code is not None:
            self.exited.append(f"before kill {len(self.kills) + 1} ({moment.label}): exit code {code}")
        else:
            os.kill(process.pid, signal.SIGKILL)
        self.kills.append(Kill(moment, time.time(), time.monotonic() - self._started, trigger))

    def _reap_and_restart(self) -> None:
        process = self.operator.process
        assert process is not None
        process.wait()
        kill = self.kills[-1]
        with open(self.operator.log_path, "a") as log:
            log.write(f"=== SIGKILL {len(self.kills)} {kill.moment.label} ({kill.trigger}), "
                      f"after {kill.uptime:.2f} s ===\n")
        if self.restart:
            self._started_at = time.time()
            self.restarts.append(self._started_at)
            self.operator.start()
        else:
            self.operator.process = None
        self._started = time.monotonic()

    def summary(self) -> str:
        """Kills per moment, and how many fell back to a timeout."""
        by_moment = collections.Counter(k.moment.label for k in self.kills)
        fallback = sum(1 for k in self.kills if k.trigger.startswith("no such request"))
        uptimes = sorted(k.uptime for k in self.kills)
        median = uptimes[len(uptimes) // 2] if uptimes else 0.0
        parts = ", ".join(f"{n} {label}" for label, n in by_moment.most_common())
        ready = sorted(self.startup_seconds())
        startup = f"{ready[len(ready) // 2]:.1f} s" if ready else "-"
        return (f"{len(self.kills)} kills ({parts}); {fallback} fell back to the timeout; "
                f"median uptime {median:.1f} s; median restart -> watching Transactions {startup}")

    def startup_seconds(self) -> list[float]:
        """Per restart: seconds until the new process watched Transactions (kopf is up)."""
        watches = sorted(r.started for r in self.proxy.records
                         if r.info.watch and r.info.resource == TRANSACTION_PLURAL)
        found = []
        for restarted in self.restarts:
            first = next((t for t in watches if t >= restarted), None)
            if first is not None:
                found.append(first - restarted)
        return found
