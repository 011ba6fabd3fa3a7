"""Pure renderers of the files that attach a publisher to an existing repository (CVMFS.md §1.5).

Paths inside the files are the pod's paths (``/var/spool/cvmfs/<fqrn>``…), never the test root:
the files are byte-for-byte what a real pod gets.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from cvmfs_operator.api import inert
from cvmfs_operator.api.contract import PublisherConfig, S3Target
from cvmfs_operator.publisher.paths import Layout

CREATOR_VERSION = 143  # layout revision of cvmfs 2.12; cvmfs refuses any other value
OWNER = "root"  # the pod runs cvmfs as root (CVMFS.md §5)
MIN_CHUNK, AVG_CHUNK, MAX_CHUNK = 4 * 2**20, 8 * 2**20, 16 * 2**20


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _lines(pairs: list[tuple[str, str]]) -> str:
    """``KEY=value`` lines. cvmfs evaluates these files with a shell (``. server.conf``; options.cc
    feeds every line to ``/bin/sh``), so a value that is not plainly inert is single-quoted; the
    values that reach ``sh -c`` strings unquoted were refused before (``api.inert``)."""
    return "".join(f"{key}={inert.config_quote(value)}\n" for key, value in pairs)


def upstream(config: PublisherConfig, layout: Layout) -> str:
    """``CVMFS_UPSTREAM_STORAGE``: ``S3,<tmp>,<prefix>@<s3.conf>`` or ``gw,<tmp>,<api url>``.

    The S3 alias is the existing key prefix, given explicitly: nothing is derived from the
    Stratum 0 URL (that derivation is what makes DNS- vs path-style diverge, CVMFS.md §1.4).
    """
    tmp = f"{layout.spool}/tmp"
    if "gateway" in config:
        return f"gw,{tmp},{config['gateway']['url']}"
    return f"S3,{tmp},{config['s3']['prefix']}@{layout.s3_config}"


def server_conf(config: PublisherConfig, layout: Layout) -> str:
    settings = config.get("settings", {})
    fqrn = config["fqrn"]
    pairs = [
        ("CVMFS_CREATOR_VERSION", str(CREATOR_VERSION)),
        ("CVMFS_REPOSITORY_NAME", fqrn),
        ("CVMFS_REPOSITORY_TYPE", "stratum0"),
        ("CVMFS_USER", OWNER),
        ("CVMFS_UNION_DIR", layout.union),
        ("CVMFS_SPOOL_DIR", layout.spool),
        ("CVMFS_STRATUM0", config["stratum0Url"]),
        ("CVMFS_UPSTREAM_STORAGE", upstream(config, layout)),
        ("CVMFS_USE_FILE_CHUNKING", "true"),
        ("CVMFS_MIN_CHUNK_SIZE", str(MIN_CHUNK)),
        ("CVMFS_AVG_CHUNK_SIZE", str(AVG_CHUNK)),
        ("CVMFS_MAX_CHUNK_SIZE", str(MAX_CHUNK)),
        ("CVMFS_UNION_FS_TYPE", "overlayfs"),
        ("CVMFS_HASH_ALGORITHM", settings.get("hashAlgorithm", "sha1")),
        ("CVMFS_COMPRESSION_ALGORITHM", settings.get("compressionAlgorithm", "default")),
        ("CVMFS_EXTERNAL_DATA", "false"),
        ("CVMFS_AUTO_TAG", _bool(settings.get("autoTag", True))),
        ("CVMFS_GARBAGE_COLLECTION", _bool(settings.get("garbageCollection", False))),
        # GC holds the transaction for its whole run: never inside a release manager's publish.
        # It runs from the operator's maintenance pod instead.
        ("CVMFS_AUTO_GC", "false"),
        ("CVMFS_AUTO_REPAIR_MOUNTPOINT", "true"),
        ("CVMFS_AUTOCATALOGS", "false"),
        ("CVMFS_ASYNC_SCRATCH_CLEANUP", "true"),
        ("CVMFS_PRINT_STATISTICS", "false"),
        ("CVMFS_UPLOAD_STATS_DB", "false"),
        ("CVMFS_UPLOAD_STATS_PLOTS", "false"),
        ("CVMFS_IGNORE_XDIR_HARDLINKS", "true"),
        # Otherwise a forced remount `wall`s and sleeps 60 s (CVMFS.md §3.2).
        ("CVMFS_FORCE_REMOUNT_WARNING", "false"),
    ]
    return _lines(pairs)


def client_conf(config: PublisherConfig, layout: Layout) -> str:
    spool = layout.spool
    pairs = [
        ("CVMFS_CACHE_BASE", f"{spool}/cache"),
        ("CVMFS_RELOAD_SOCKETS", f"{spool}/cache"),
        ("CVMFS_QUOTA_LIMIT", "4000"),
        ("CVMFS_MOUNT_DIR", "/cvmfs"),
        ("CVMFS_SERVER_URL", config["stratum0Url"]),
        ("CVMFS_HTTP_PROXY", "DIRECT"),
        ("CVMFS_PUBLIC_KEY", f"{layout.keys_dir}/{config['fqrn']}.pub"),
        ("CVMFS_CHECK_PERMISSIONS", "yes"),
        ("CVMFS_IGNORE_SIGNATURE", "no"),
        ("CVMFS_AUTO_UPDATE", "no"),
        ("CVMFS_NFS_SOURCE", "no"),
        ("CVMFS_MAGIC_XATTRS_VISIBILITY", "never"),
        ("CVMFS_FOLLOW_REDIRECTS", "yes"),
        ("CVMFS_SERVER_CACHE_MODE", "yes"),
        ("CVMFS_NFILES", "65536"),
        ("CVMFS_TALK_SOCKET", f"{spool}/cvmfs_io"),
        ("CVMFS_TALK_OWNER", OWNER),
        ("CVMFS_USE_SSL_SYSTEM_CA", "true"),
    ]
    return _lines(pairs)


def fstab_lines(layout: Layout) -> str:
    """The two lines ``cvmfs_server`` mounts through (rdonly FUSE client, OverlayFS union)."""
    fqrn, spool = layout.fqrn, layout.spool
    marker = f"# added by CernVM-FS for {fqrn}"
    rdonly = (
        f"cvmfs2#{fqrn} {spool}/rdonly fuse allow_other,fsname={fqrn},"
        f"config={layout.repo_config_dir}/client.conf:{spool}/client.local,cvmfs_suid,noauto 0 0 {marker}"
    )
    union = (
        f"overlay_{fqrn} {layout.union} overlay upperdir={spool}/scratch/current,"
        f"lowerdir={spool}/rdonly,workdir={spool}/ofs_workdir,noauto,nodev,ro 0 0 {marker}"
    )
    return f"{rdonly}\n{union}\n"


def merge_fstab(existing: str, layout: Layout) -> str:
    """``existing`` without any earlier lines for this repository, plus the two current ones."""
    marker = f"# added by CernVM-FS for {layout.fqrn}"
    kept = [line for line in existing.splitlines() if not line.endswith(marker)]
    body = "".join(f"{line}\n" for line in kept)
    return body + fstab_lines(layout)


def s3_conf(target: S3Target, credentials: S3Credentials) -> str:
    """The S3 config file (CVMFS.md §1.6). Contains the secret key: write it mode 0600.

    ``CVMFS_S3_DNS_BUCKETS`` is always written explicitly so the uploads' URL shape
    (``<bucket>.<host>`` vs ``<host>/<bucket>``) is what the Repository says, not a default.
    """
    endpoint = urllib.parse.urlsplit(target["endpoint"])
    if endpoint.scheme not in {"http", "https"} or not endpoint.hostname:
        raise ValueError("s3.endpoint must be http(s)://host[:port]")
    pairs = [
        ("CVMFS_S3_HOST", endpoint.hostname),
        ("CVMFS_S3_ACCESS_KEY", credentials.access_key),
        ("CVMFS_S3_SECRET_KEY", credentials.secret_key),
        ("CVMFS_S3_BUCKET", target["bucket"]),
        ("CVMFS_S3_DNS_BUCKETS", _bool(target.get("dnsBuckets", True))),
        ("CVMFS_S3_USE_HTTPS", _bool(endpoint.scheme == "https")),
    ]
    if endpoint.port:
        pairs.append(("CVMFS_S3_PORT", str(endpoint.port)))
    if target.get("region"):
        pairs.append(("CVMFS_S3_REGION", target["region"]))  # selects SigV4
    if target.get("maxConnections"):
        pairs.append(("CVMFS_S3_MAX_NUMBER_OF_PARALLEL_CONNECTIONS", str(target["maxConnections"])))
    acl = target.get("acl")
    if acl is not None:
        pairs.append(("CVMFS_S3_X_AMZ_ACL", acl))  # "" is written as "" (omit the header)
    return _lines(pairs)
