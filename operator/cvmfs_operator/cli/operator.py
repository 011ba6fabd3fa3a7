"""``cvmfs-operator``: run the operator (kopf) with settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf

from cvmfs_operator import settings as settings_module
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.handlers.setup import build_registry
from cvmfs_operator.handlers.wiring import make_runtime


async def run(rt: Runtime, stop_flag: asyncio.Event | None = None) -> None:
    registry = build_registry(rt)
    liveness = f"http://0.0.0.0:{rt.settings.liveness_port}/healthz" if rt.settings.liveness_port else None
    await kopf.operator(registry=registry, clusterwide=True, standalone=True,
                        liveness_endpoint=liveness, stop_flag=stop_flag)


def main() -> None:
    try:
        settings = settings_module.from_env()
    except settings_module.SettingsError as exc:
        print(f"cvmfs-operator: {exc}", file=sys.stderr)
        sys.exit(2)
    kopf.configure(verbose=False, log_format=kopf.LogFormat.JSON if settings.log_format == "json"
                   else kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(run(make_runtime(settings)))


if __name__ == "__main__":
    main()
