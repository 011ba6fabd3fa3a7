"""Creating a Repository with ``spec.create``, from its health read: keys generated into the two
Secrets (created once: 409 keeps the existing ones, never overwritten), a creation pod under the
repository's lock, the result recorded as the condition ``Created`` (reconcile/creation.py)."""

from __future__ import annotations

import datetime
from typing import Any

from cvmfs_operator.api.types import Condition, Repository
from cvmfs_operator.clients.errors import AlreadyExists, KubeError
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import creation
from cvmfs_operator.reconcile.observed import pod_view
from cvmfs_operator.render import keys, names
from cvmfs_operator.render.lock import render_lock
from cvmfs_operator.render.operation_config import creation_config
from cvmfs_operator.render.operation_pod import (
    COMPONENT,
    OperationPodInputs,
    creation_of,
    render_operation_pod,
)
from cvmfs_operator.stratum0 import Manifest, ObjectMissing, Observation, Stratum0Error
from cvmfs_operator.stratum0.conditions import make_condition

CREATE_TIMEOUT_SECONDS = 3600
STEPS = 3


def manifest_present(observation: Observation | Stratum0Error) -> bool | None:
    manifest = observation.manifest if isinstance(observation, Observation) else observation
    if isinstance(manifest, Manifest):
        return True
    return False if isinstance(manifest, ObjectMissing) else None


def step(rt: Runtime, repo: Repository, observation: Observation | Stratum0Error, logger: Logger,
         ) -> tuple[Condition | None, dict[str, Any]]:
    """One step of creating ``repo``; the ``Created`` condition and status fields to write with
    its health (None, {}: nothing to write)."""
    if "create" not in repo["spec"]:
        return None, {}
    meta = repo["metadata"]
    fqrn, ns = meta["name"], rt.settings.namespace
    me = names.holder_identity("", fqrn, meta["uid"])
    wanted: tuple[str, str, str] | None = None
    fields: dict[str, Any] = {}
    try:
        for _ in range(STEPS):  # take the lock and start the pod in one look (the stores are written through)
            pods = rt.kube.list_pods(ns, {names.LABEL_OPERATION_UID: meta["uid"]})
            lease = rt.kube.get_lease(ns, names.lock_name(fqrn))
            holder = (lease or {}).get("spec", {}).get("holderIdentity") if lease else None
            decided = creation.decide(repo, manifest_present=manifest_present(observation),
                                      pods=[pod_view(p, names.LABEL_ATTEMPT, COMPONENT) for p in pods],
                                      lock_holder=holder, me=me)
            if decided is None:
                break
            _act(rt, repo, decided, lease, me, logger)
            wanted = decided.condition or wanted
            fields.update(decided.repository)
            if not (decided.acquire_lock or decided.create_pod):
                break
    except KubeError as error:
        logger.warning("Creating repository %s: %s; trying again at the next look", fqrn, error)
    if wanted is None:
        return None, fields
    status, reason, message = wanted
    condition = make_condition(creation.CREATED, status, reason, message,  # type: ignore[arg-type]
                               now=datetime.datetime.now(datetime.UTC),
                               previous=(repo.get("status") or {}).get("conditions") or [],
                               observed_generation=meta.get("generation"))
    return condition, fields


def _act(rt: Runtime, repo: Repository, decided: creation.Step, lease: dict[str, Any] | None, me: str,
         logger: Logger) -> None:
    fqrn, ns = repo["metadata"]["name"], rt.settings.namespace
    now = datetime.datetime.now(datetime.UTC)
    if decided.acquire_lock:
        try:
            rt.kube.create_lease(render_lock(fqrn, ns, me, now))
        except AlreadyExists:
            return
    if decided.create_pod is not None:
        _create_keys(rt, repo, now, logger)
        inputs = OperationPodInputs(subject=creation_of(repo), repository=repo, namespace=ns,
                                    default_image=rt.settings.publisher_image, attempt=decided.create_pod,
                                    config=creation_config(repo), timeout_seconds=CREATE_TIMEOUT_SECONDS)
        pod = render_operation_pod(inputs)
        try:
            rt.kube.create_pod(pod)
            logger.info("Created pod %s to create repository %s", pod["metadata"]["name"], fqrn)
        except AlreadyExists:
            pass
    for name in decided.delete_pods:
        rt.kube.delete_pod(ns, name)
    if decided.release_lock and lease is not None:
        rt.kube.delete_lease(ns, names.lock_name(fqrn), lease["metadata"].get("uid"))
        rt.wakeups.notify(fqrn)
    if decided.event is not None:
        kind, reason, message = decided.event
        (logger.info if kind == "Normal" else logger.warning)("%s", message)
        rt.kube.post_event(repo, kind, reason, message)


def _create_keys(rt: Runtime, repo: Repository, now: datetime.datetime, logger: Logger) -> None:
    """Both Secrets, each created once: an existing one is kept (a retry, a restart or another
    replica made it, or an administrator did): never overwritten."""
    keychain = keys.generate_keychain(repo["metadata"]["name"], now)
    for secret in keys.key_secrets(repo, keychain, rt.settings.namespace):
        try:
            rt.kube.create_secret(secret)
            logger.info("Created Secret %s with generated keys", secret["metadata"]["name"])
        except AlreadyExists:
            logger.debug("Secret %s exists: kept", secret["metadata"]["name"])
