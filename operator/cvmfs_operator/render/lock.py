"""The per-repository lock: a coordination.k8s.io Lease that only one create can take."""

from __future__ import annotations

import datetime

from cvmfs_operator.api.types import Manifest
from cvmfs_operator.render import names


def micro_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_lock(fqrn: str, namespace: str, holder: str, now: datetime.datetime) -> Manifest:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": names.lock_name(fqrn),
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                names.LABEL_COMPONENT: names.COMPONENT_LOCK,
                names.LABEL_REPOSITORY: names.label_value(fqrn),
            },
            "annotations": {names.ANNOTATION_REPOSITORY: fqrn},
        },
        "spec": {"holderIdentity": holder, "acquireTime": micro_time(now)},
    }
