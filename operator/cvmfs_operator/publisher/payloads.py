"""Apply the payload inside the open transaction (the union directory of the transaction path)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from cvmfs_operator.api.contract import ErrorClass, PublisherConfig
from cvmfs_operator.publisher import tree
from cvmfs_operator.publisher.errors import PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.paths import Layout
from cvmfs_operator.publisher.script import run_script
from cvmfs_operator.publisher.validate import confined


def _failed(message: str) -> PublisherError:
    return PublisherError(ErrorClass.PAYLOAD_FAILED, "payload", message)


def extract(tarball: Path, target: Path, log: Log) -> None:
    """Unpack into ``target``: files are added or replaced, nothing else is deleted (like ingest).

    The archive was inspected already; the ``data`` filter re-checks each real destination, drops
    set-id bits and ownership (files belong to the repository owner, as with ``ingest``).
    """
    try:
        with tarfile.open(tarball, mode="r:*") as archive:
            archive.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise _failed(f"tarball extraction failed: {type(error).__name__}: {error}") from None
    log.info(f"extracted the tarball into {target.name or '/'}")


def stage(staging: Path, target: Path, log: Log) -> None:
    if not staging.is_dir():
        raise _failed("the staging directory is missing")
    try:
        written, deleted = tree.sync(staging, target)
    except OSError as error:
        raise _failed(f"syncing the staging directory failed: {error.strerror}") from None
    log.info(f"synced staging: {written} entries written, {deleted} deleted")


def remove(paths: list[str], transaction_dir: Path, log: Log) -> None:
    for relative in paths:
        clean = confined(relative, "remove path")
        victim = tree.enter(transaction_dir, clean, "payload", create=False)
        try:
            removed = tree.remove(victim)
        except OSError as error:
            raise _failed(f"removing {clean} failed: {error.strerror}") from None
        log.info(f"removed {clean}" if removed else f"{clean} was already absent")


def apply(config: PublisherConfig, layout: Layout, transaction_dir: Path,
          tarball: Path | None, log: Log) -> None:
    payload = config["payload"]
    if "tarball" in payload:
        assert tarball is not None, "the tarball is fetched before the transaction opens"
        extract(tarball, transaction_dir, log)
    elif "stage" in payload:
        stage(layout.staging_dir, transaction_dir, log)
    elif "remove" in payload:
        remove(payload["remove"]["paths"], transaction_dir, log)
    elif "script" in payload:
        run_script(payload["script"]["source"], transaction_dir, config["fqrn"], config["path"], log)
