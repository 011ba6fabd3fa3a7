"""Build the Runtime from settings (the only place that creates API clients)."""

from __future__ import annotations

from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.settings import Settings


def make_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, kube=KubeClient(make_api_client(settings.api_server)))
