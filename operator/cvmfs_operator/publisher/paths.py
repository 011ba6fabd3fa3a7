"""Where the publisher reads and writes: the pod's fixed paths, re-rooted for tests.

Two environment variables exist only as test/debug knobs (docs/publisher-contract.md):

* ``CVMFS_PUBLISHER_ROOT`` (default ``/``) prefixes every file-system path the publisher touches:
  ``/etc/cvmfs``, ``/etc/fstab``, ``/var/spool/cvmfs``, ``/cvmfs`` and the contract's mounts;
* ``CVMFS_PUBLISHER_RESULT_PATH`` replaces the termination-message path (not re-rooted).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cvmfs_operator.api import contract

ROOT_ENV = "CVMFS_PUBLISHER_ROOT"
RESULT_PATH_ENV = "CVMFS_PUBLISHER_RESULT_PATH"


def _under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


@dataclass(frozen=True)
class Layout:
    """Every path of one repository's attachment, under one file-system root."""

    root: Path
    fqrn: str
    result_path: Path

    @classmethod
    def from_env(cls, fqrn: str, environ: Mapping[str, str] = os.environ) -> Layout:
        root = Path(environ.get(ROOT_ENV) or "/")
        result = Path(environ.get(RESULT_PATH_ENV) or contract.RESULT_PATH)
        return cls(root=root, fqrn=fqrn, result_path=result)

    def host(self, absolute: str) -> Path:
        """The on-disk location of a path the pod sees as ``absolute``."""
        return _under(self.root, absolute)

    # Paths as cvmfs sees them (written into config files) ------------------------------------
    @property
    def spool(self) -> str:
        return f"{contract.SPOOL_DIR}/{self.fqrn}"

    @property
    def union(self) -> str:
        return f"/cvmfs/{self.fqrn}"

    @property
    def repo_config_dir(self) -> str:
        return f"/etc/cvmfs/repositories.d/{self.fqrn}"

    @property
    def s3_config(self) -> str:
        return f"/etc/cvmfs/s3/{self.fqrn}.conf"

    @property
    def keys_dir(self) -> str:
        return "/etc/cvmfs/keys"

    # The same paths on disk -------------------------------------------------------------------
    @property
    def spool_dir(self) -> Path:
        return self.host(self.spool)

    @property
    def union_dir(self) -> Path:
        return self.host(self.union)

    @property
    def config_dir(self) -> Path:
        return self.host(self.repo_config_dir)

    @property
    def s3_config_file(self) -> Path:
        return self.host(self.s3_config)

    @property
    def installed_keys_dir(self) -> Path:
        return self.host(self.keys_dir)

    @property
    def fstab(self) -> Path:
        return self.host("/etc/fstab")

    @property
    def mounted_keys(self) -> Path:
        return self.host(contract.KEYS_DIR)

    @property
    def mounted_s3_credentials(self) -> Path:
        return self.host(contract.S3_CREDENTIALS_DIR)

    @property
    def mounted_gateway_key(self) -> Path:
        return self.host(contract.GATEWAY_KEY_DIR)

    @property
    def staging_dir(self) -> Path:
        return self.host(contract.STAGING_DIR)

    @property
    def download_dir(self) -> Path:
        """Outside the repository's spool (cvmfs wipes ``tmp/``) but on the same size-limited volume."""
        return self.host(contract.SPOOL_DIR) / ".publisher-download"

    def transaction_dir(self, path: str) -> Path:
        """The union-mount directory of the transaction path (``path`` is absolute, validated)."""
        relative = path.strip("/")
        return self.union_dir / relative if relative else self.union_dir
