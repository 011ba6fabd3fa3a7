"""The operator's one settings object, built once at start-up from the environment."""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
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
    health_interval: float = 60.0  # seconds between Stratum 0 reads per Repository (± 10 %)
    health_max_interval: float = 600.0  # the longest wait between reads of an unreachable one
    health_concurrency: int = 8  # Stratum 0 health reads at once (and half as many unreachable)
    whitelist_warning_days: float = 7.0
    s3_timeout: float = 10.0
    stale_lock_seconds: float = 60.0  # a lock whose holder and pods are gone is broken after this
    metrics_port: int = 9100  # 0 disables the Prometheus endpoint
    liveness_port: int = 8080  # 0 disables the liveness endpoint
    api_qps: float = 50.0  # client-side rate limit of the operator's own API requests; 0: none
    api_burst: int = 100
    api_server: str | None = None  # explicit API URL (demo, tests); default: in-cluster or KUBECONFIG
    log_format: str = "plain"  # plain | json


@dataclass(frozen=True)
class Setting:
    """One environment variable: the field it sets and what it means (``cvmfs-operator --help``)."""

    field: str
    env: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("namespace", "CVMFS_OPERATOR_NAMESPACE",
            "the operator's own namespace: publisher pods, repository locks (Leases), keys and S3 "
            "credentials Secrets live there (the chart sets it from the pod's namespace)"),
    Setting("publisher_image", "CVMFS_OPERATOR_PUBLISHER_IMAGE",
            "image of the publisher pods; a Repository may override it in spec.publisher.image"),
    Setting("reconcile_interval", "CVMFS_OPERATOR_RECONCILE_INTERVAL",
            "seconds between re-checks of an unfinished Transaction (at least 0.1)"),
    Setting("health_interval", "CVMFS_OPERATOR_HEALTH_INTERVAL",
            "seconds between Stratum 0 health reads (manifest, whitelist) per Repository, ± 10 % "
            "(at least 0.1)"),
    Setting("health_max_interval", "CVMFS_OPERATOR_HEALTH_MAX_INTERVAL",
            "a Repository whose Stratum 0 does not answer is read ever less often (the interval "
            "doubling per failure), at least every this many seconds"),
    Setting("health_concurrency", "CVMFS_OPERATOR_HEALTH_CONCURRENCY",
            "Stratum 0 health reads at once (threads); Repositories whose endpoint did not answer "
            "get half as many more, so they never delay the others"),
    Setting("whitelist_warning_days", "CVMFS_OPERATOR_WHITELIST_WARNING_DAYS",
            "raise the Repository condition WhitelistExpiringSoon this many days before expiry"),
    Setting("s3_timeout", "CVMFS_OPERATOR_S3_TIMEOUT",
            "seconds a Stratum 0 read (S3 or HTTP) may take before the repository counts as unreachable"),
    Setting("stale_lock_seconds", "CVMFS_OPERATOR_STALE_LOCK_SECONDS",
            "a repository lock whose holder and pods are gone is broken after this many seconds"),
    Setting("metrics_port", "CVMFS_OPERATOR_METRICS_PORT",
            "port of the Prometheus /metrics endpoint; 0 disables it"),
    Setting("liveness_port", "CVMFS_OPERATOR_LIVENESS_PORT",
            "port of kopf's liveness endpoint /healthz; 0 disables it"),
    Setting("api_qps", "CVMFS_OPERATOR_API_QPS",
            "client-side rate limit of the operator's Kubernetes API requests, per second (token "
            "bucket, as client-go's QPS); 0 disables it"),
    Setting("api_burst", "CVMFS_OPERATOR_API_BURST",
            "requests allowed at once above the rate limit (the token bucket's size, as client-go's Burst)"),
    Setting("api_server", "CVMFS_OPERATOR_API_SERVER",
            "explicit Kubernetes API URL (demo, tests); unset: in-cluster service account, else KUBECONFIG"),
    Setting("log_format", "CVMFS_OPERATOR_LOG_FORMAT", "plain or json"),
)

ENV = {setting.field: setting.env for setting in SETTINGS}


def default_of(field_name: str) -> object:
    """The default a field takes when its variable is unset (``MISSING`` for the namespace)."""
    for field in dataclasses.fields(Settings):
        if field.name == field_name:
            return field.default
    raise KeyError(field_name)


def describe(settings: Settings) -> str:
    """The effective settings on one line, for the start-up log: ``name=value`` pairs.

    Nothing here is secret; an API URL's user information (``https://user:token@host``) is
    still masked, in case someone puts credentials there."""
    parts = []
    for setting in SETTINGS:
        value = getattr(settings, setting.field)
        if setting.field == "api_server" and value:
            value = _mask_userinfo(str(value))
        parts.append(f"{setting.field}={value if value is not None else '-'}")
    return " ".join(parts)


def _mask_userinfo(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if "@" not in parsed.netloc:
        return url
    return parsed._replace(netloc="***@" + parsed.netloc.rsplit("@", 1)[1]).geturl()


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
        health_max_interval=_number(env, "health_max_interval", 600.0, minimum=0.1),
        health_concurrency=int(_number(env, "health_concurrency", 8, minimum=1)),
        whitelist_warning_days=_number(env, "whitelist_warning_days", 7.0, minimum=0),
        s3_timeout=_number(env, "s3_timeout", 10.0, minimum=0.1),
        stale_lock_seconds=_number(env, "stale_lock_seconds", 60.0, minimum=1.0),
        metrics_port=int(_number(env, "metrics_port", 9100, minimum=0)),
        liveness_port=int(_number(env, "liveness_port", 8080, minimum=0)),
        api_qps=_number(env, "api_qps", 50.0, minimum=0),
        api_burst=int(_number(env, "api_burst", 100, minimum=1)),
        api_server=env.get(ENV["api_server"]) or None,
        log_format=log_format,
    )
