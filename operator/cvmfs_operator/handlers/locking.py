"""The repository lock's three writes, for Transactions and RepositoryOperations alike.

Take it (a Lease create only one can win), break a dead holder's (delete with the uid
precondition of the Lease seen), release it (hand it to the next in the queue with a
resourceVersion precondition, else delete it). Safety rests on those preconditions, never on
what the store said.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from cvmfs_operator.clients.errors import AlreadyExists, NotFound
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import queueing
from cvmfs_operator.reconcile.observed import Stratum0View, pod_view
from cvmfs_operator.render import names
from cvmfs_operator.render.lock import micro_time, render_lock


def holder_busy(rt: Runtime, holder: str, now: datetime.datetime) -> bool:
    """Whether a holder that left the queue (final, or gone) may still be busy: a pod of its own
    still runs, or ended so recently that it is still releasing the lock. A holder releases the
    lock right after its final status write, while its ended pod still exists; without the grace,
    a waiter woken by that write would find it "dead" and break the lock in between (seen as a
    LockBroken Event in a plain queue). An operator that died in between leaves the ended pod:
    the lock is broken once that pod ended more than the stale-lock time ago."""
    uid = names.holder_uid(holder)
    pods = rt.kube.list_pods(rt.settings.namespace, {names.LABEL_TRANSACTION_UID: uid})
    pods += rt.kube.list_pods(rt.settings.namespace, {names.LABEL_OPERATION_UID: uid})  # an operation's
    grace = datetime.timedelta(seconds=rt.settings.stale_lock_seconds)
    for pod in pods:
        view = pod_view(pod, names.LABEL_ATTEMPT)
        if not view.terminated or (view.finished is not None and now - view.finished < grace):
            return True
    return False


def acquire(rt: Runtime, fqrn: str, me: str, now: datetime.datetime, logger: Logger) -> None:
    try:
        rt.kube.create_lease(render_lock(fqrn, rt.settings.namespace, me, now))
    except AlreadyExists:
        return  # someone else took it first: the next observation queues us
    logger.info("Acquired the lock of repository %s", fqrn)


def break_stale(rt: Runtime, fqrn: str, holder: str, involved: Mapping[str, Any], logger: Logger) -> None:
    """Delete the lock of a holder that is neither waiting, running nor releasing it (an Event on
    ``involved``)."""
    ns = rt.settings.namespace
    lease = rt.kube.get_lease(ns, names.lock_name(fqrn))
    if lease and lease.get("spec", {}).get("holderIdentity") == holder:
        rt.kube.delete_lease(ns, names.lock_name(fqrn), lease["metadata"].get("uid"))
        message = (f"Broke the lock of repository {fqrn} held by {holder}: it is no longer queued or "
                   f"running, and no pod of its own ran in the last {rt.settings.stale_lock_seconds:g} s")
        logger.warning("%s", message)
        rt.kube.post_event(involved, "Warning", "LockBroken", message)


def release(rt: Runtime, fqrn: str, view: queueing.LockView, successor: str | None,
            now: datetime.datetime, logger: Logger, read: Stratum0View | None = None) -> None:
    """Hand the lock to ``successor`` (one write, only onto the version read), else delete it;
    nothing when ``view.me`` does not hold it. Handed over, only the new holder (at once here, and
    by the Lease watch in every operator process) and the one now next in line behind it are woken;
    otherwise every waiter of the repository is.

    ``read``: the repository as read with the lock held; handed on with it (handlers/handover.py),
    so that the successor's start needs no read of its own."""
    ns = rt.settings.namespace
    lease = rt.kube.get_lease(ns, names.lock_name(fqrn))
    if lease and lease.get("spec", {}).get("holderIdentity") == view.me:
        version = lease["metadata"].get("resourceVersion")
        if successor and version:
            rt.handed.offer(names.holder_uid(successor), read)  # before the successor can wake
            try:
                rt.kube.hand_over_lease(ns, names.lock_name(fqrn), str(version), successor, micro_time(now))
                logger.info("Handed the lock of repository %s to %s", fqrn, successor.rsplit("/", 1)[0])
                # The store has the new holder already (write-through): wake it now rather than
                # when the Lease watch brings the change back (which wakes it again, in any process).
                rt.wakeups.notify_daemons([names.holder_uid(successor),
                                           *(e.uid for e in queueing.next_after_hand_over(view))])
                return
            except (AlreadyExists, NotFound):
                rt.handed.withdraw(names.holder_uid(successor))  # changed or gone since it was read:
                # nothing of ours to hand over
        rt.kube.delete_lease(ns, names.lock_name(fqrn), lease["metadata"].get("uid"))
        logger.info("Released the lock of repository %s", fqrn)
    rt.wakeups.notify(fqrn)
