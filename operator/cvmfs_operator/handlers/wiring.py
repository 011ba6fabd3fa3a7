"""Build the Runtime from settings (the only place that creates API clients)."""

from __future__ import annotations

from cvmfs_operator.clients import ratelimit
from cvmfs_operator.clients.cached import Caches, CachingKubeClient
from cvmfs_operator.clients.kube import make_api_client
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.settings import Settings


def make_runtime(settings: Settings) -> Runtime:
    limit = ratelimit.from_settings(settings.api_qps, settings.api_burst)  # every request of the API client
    caches = Caches()
    kube = CachingKubeClient(make_api_client(settings.api_server, limit), caches)
    return Runtime(settings=settings, kube=kube, caches=caches)
