"""What the emulator lacks compared with a real API server, added through its own resource table."""

from __future__ import annotations

import kmock

from cvmfs_operator.cli.emulator import VERBS, ApiEmulator

CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"


def with_real_discovery(emulator: ApiEmulator) -> ApiEmulator:
    """Serve CustomResourceDefinitions in discovery, as every real API server does, so that a
    client which lists them (kopf's resource scanning) is seen doing so."""
    emulator.resources[CRDS] = kmock.ResourceInfo(kind="CustomResourceDefinition", namespaced=False,
                                                  verbs=VERBS)
    return emulator
