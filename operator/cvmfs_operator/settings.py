"""The operator's one settings object, built once at start-up from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PUBLISHER_IMAGE = "ghcr.io/cvmfs-contrib/cvmfs-release-publisher:0.1.0"


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    namespace: str  # where publisher pods, locks and Secrets live
    publisher_image: str = DEFAULT_PUBLISHER_IMAGE
    reconcile_interval: float = 10.0  # seconds between re-checks of an unfinished Transaction
    health_interval: float = 60.0  # seconds between Stratum 0 reads per Repository
    whitelist_warning_days: float = 7.0
    s3_timeout: float = 10.0
    stale_lock_seconds: float = 60.0  # a lock whose holder and pods are gone is broken after this
    metrics_port: int = 9100  # 0 disables the Prometheus endpoint
    liveness_port: int = 8080  # 0 disables the liveness endpoint
    api_server: str | None = None  # explicit API URL (demo, tests); default: in-cluster or KUBECONFIG
    log_format: str = "plain"  # plain | json


ENV = {
    "namespace": "CVMFS_OPERATOR_NAMESPACE",
    "publisher_image": "CVMFS_OPERATOR_PUBLISHER_IMAGE",
    "reconcile_interval": "CVMFS_OPERATOR_RECONCILE_INTERVAL",
    "health_interval": "CVMFS_OPERATOR_HEALTH_INTERVAL",
    "whitelist_warning_days": "CVMFS_OPERATOR_WHITELIST_WARNING_DAYS",
    "s3_timeout": "CVMFS_OPERATOR_S3_TIMEOUT",
    "stale_lock_seconds": "CVMFS_OPERATOR_STALE_LOCK_SECONDS",
    "metrics_port": "CVMFS_OPERATOR_METRICS_PORT",
    "liveness_port": "CVMFS_OPERATOR_LIVENESS_PORT",
    "api_server": "CVMFS_OPERATOR_API_SERVER",
    "log_format": "CVMFS_OPERATOR_LOG_FORMAT",
}


def _number(env: Mapping[str, str], field: str, default: float, *, minimum: float) -> float:
    raw = env.get(ENV[field])
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{ENV[field]} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{ENV[field]} must be at least {minimum}, got {raw!r}")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    namespace = env.get(ENV["namespace"], "")
    if not namespace:
        raise SettingsError(f"{ENV['namespace']} must name the operator's namespace")
    log_format = env.get(ENV["log_format"]) or "plain"
    if log_format not in ("plain", "json"):
        raise SettingsError(f"{ENV['log_format']} must be 'plain' or 'json', got {log_format!r}")
    return Settings(
        namespace=namespace,
        publisher_image=env.get(ENV["publisher_image"]) or DEFAULT_PUBLISHER_IMAGE,
        reconcile_interval=_number(env, "reconcile_interval", 10.0, minimum=0.1),
        health_interval=_number(env, "health_interval", 60.0, minimum=0.1),
        whitelist_warning_days=_number(env, "whitelist_warning_days", 7.0, minimum=0),
        s3_timeout=_number(env, "s3_timeout", 10.0, minimum=0.1),
        stale_lock_seconds=_number(env, "stale_lock_seconds", 60.0, minimum=1.0),
        metrics_port=int(_number(env, "metrics_port", 9100, minimum=0)),
        liveness_port=int(_number(env, "liveness_port", 8080, minimum=0)),
        api_server=env.get(ENV["api_server"]) or None,
        log_format=log_format,
    )
