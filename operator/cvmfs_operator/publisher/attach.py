"""Attach the pod to the existing repository: config files, keys, spool, ``reflog.chksum``.

Never ``mkfs`` (it would overwrite the live manifest, whitelist and reflog) and never ``import``
(it needs the master key): the files ``cvmfs_server mount`` needs are rendered here (CVMFS.md §1).
"""

from __future__ import annotations

import os
from pathlib import Path

from cvmfs_operator.api import contract, inert
from cvmfs_operator.api.contract import ErrorClass, PublisherConfig
from cvmfs_operator.publisher import conffiles
from cvmfs_operator.publisher.errors import PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.paths import Layout

SPOOL_SUBDIRS = ("rdonly", "scratch/current", "scratch/wastebin", "ofs_workdir", "tmp", "cache")
PUBLIC_MODE, PRIVATE_MODE = 0o444, 0o400


def _invalid(message: str) -> PublisherError:
    return PublisherError(ErrorClass.INVALID_INPUT, "configure", message)


def _read_secret_file(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as error:  # the path is not secret; the content is never shown
        raise _invalid(f"{what} is missing or unreadable at {path.name} ({error.strerror})") from None


def _write(path: Path, content: str | bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is masked by the umask and ignored for existing files
        os.write(fd, data)
    finally:
        os.close(fd)


def read_s3_credentials(layout: Layout, log: Log) -> conffiles.S3Credentials:
    base = layout.mounted_s3_credentials
    access = _read_secret_file(base / contract.S3_ACCESS_KEY_FILE, "the S3 access key")
    secret = _read_secret_file(base / contract.S3_SECRET_KEY_FILE, "the S3 secret key")
    if not access or not secret:
        raise _invalid("the S3 credentials are empty")
    for value, what in ((access, contract.S3_ACCESS_KEY_FILE), (secret, contract.S3_SECRET_KEY_FILE)):
        problem = inert.config_value_error(value)
        if problem:  # never the value itself
            raise _invalid(f"the S3 credential {what} {problem}")
    log.add_secret(access)
    log.add_secret(secret)
    return conffiles.S3Credentials(access_key=access, secret_key=secret)


def _key_sources(config: PublisherConfig, layout: Layout) -> list[tuple[Path, int]]:
    fqrn = config["fqrn"]
    keys = layout.mounted_keys
    sources = [(keys / f"{fqrn}.crt", PUBLIC_MODE), (keys / f"{fqrn}.pub", PUBLIC_MODE)]
    if "gateway" in config:
        sources.append((layout.mounted_gateway_key / f"{fqrn}.gw", PRIVATE_MODE))
    else:
        sources.append((keys / f"{fqrn}.key", PRIVATE_MODE))
    return sources


def install_keys(config: PublisherConfig, layout: Layout, log: Log) -> None:
    """Copy the keys from the read-only Secret mount; the master key is never copied."""
    install_key_files(_key_sources(config, layout), layout, log)


def install_key_files(sources: list[tuple[Path, int]], layout: Layout, log: Log) -> None:
    """Copy ``(mounted file, mode)`` into /etc/cvmfs/keys; private keys' lines become secrets."""
    target_dir = layout.installed_keys_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(target_dir, 0o755)
    loaded: list[tuple[Path, bytes, int]] = []
    for source, mode in sources:
        try:
            data = source.read_bytes()
        except OSError as error:
            raise _invalid(f"key file {source.name} is missing or unreadable ({error.strerror})") from None
        if not data.strip():
            raise _invalid(f"key file {source.name} is empty")
        if mode == PRIVATE_MODE:
            _register_key_secret(data.decode(errors="replace"), log)
        loaded.append((target_dir / source.name, data, mode))
    for target, data, mode in loaded:
        _write(target, data, mode)


def _register_key_secret(text: str, log: Log) -> None:
    for line in text.splitlines():
        if line.startswith("-----"):
            continue  # PEM armour is not secret
        log.add_secret(line)
        fields = line.split()
        if len(fields) == 3 and fields[0] == "plain_text":  # gateway key: plain_text <id> <secret>
            log.add_secret(fields[2])


def write_s3_config(target: contract.S3Target, layout: Layout, credentials: conffiles.S3Credentials) -> None:
    try:
        s3_text = conffiles.s3_conf(target, credentials)
    except ValueError as error:
        raise _invalid(str(error)) from None
    _write(layout.s3_config_file, s3_text, 0o600)


def write_configuration(config: PublisherConfig, layout: Layout, log: Log,
                        key_sources: list[tuple[Path, int]] | None = None) -> conffiles.S3Credentials | None:
    """Everything ``cvmfs_server mount`` reads; safe to repeat. Returns the S3 credentials.

    ``key_sources`` replaces the publisher's keys (repository operations need other sets)."""
    credentials = read_s3_credentials(layout, log) if "s3" in config else None
    install_key_files(_key_sources(config, layout) if key_sources is None else key_sources, layout, log)
    _write(layout.config_dir / "server.conf", conffiles.server_conf(config, layout), 0o644)
    _write(layout.config_dir / "client.conf", conffiles.client_conf(config, layout), 0o644)
    if credentials is not None:
        write_s3_config(config["s3"], layout, credentials)
    existing = layout.fstab.read_text() if layout.fstab.exists() else ""
    _write(layout.fstab, conffiles.merge_fstab(existing, layout), 0o644)
    for sub in SPOOL_SUBDIRS:
        (layout.spool_dir / sub).mkdir(parents=True, exist_ok=True)
    _write(layout.spool_dir / "client.local", "", 0o644)
    layout.union_dir.mkdir(parents=True, exist_ok=True)
    checksum = config.get("reflogChecksum")
    if checksum:
        _write(layout.spool_dir / "reflog.chksum", checksum.strip(), 0o644)  # bare hex, as cvmfs writes it
    log.info(f"configured {config['fqrn']} (upstream {conffiles.upstream(config, layout).split(',')[0]})")
    return credentials
