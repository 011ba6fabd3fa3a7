"""Refuse a tarball before anything is written if any entry could land outside its target.

Refused: absolute names, names with ``..``, symbolic links whose target is absolute or resolves
outside the target directory, hard links to anything outside the archive's own tree, and device
or FIFO entries. Extraction later also runs with ``tarfile``'s ``data`` filter, which checks the
real on-disk destination too (an existing symlink in the repository cannot redirect a write).
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from cvmfs_operator.api.contract import ErrorClass
from cvmfs_operator.publisher.errors import PublisherError


def _refuse(message: str) -> PublisherError:
    return PublisherError(ErrorClass.PAYLOAD_FAILED, "fetch", f"tarball refused: {message}")


def _inside(relative: str) -> bool:
    """Whether a normalised relative path stays within the target directory."""
    return relative != ".." and not relative.startswith("../") and not relative.startswith("/")


def _check_name(name: str) -> str:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _refuse(f"entry {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise _refuse(f"entry {name!r} contains '..'")
    return posixpath.normpath(name)


def check_member(member: tarfile.TarInfo) -> None:
    name = _check_name(member.name)
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            raise _refuse(f"symlink {member.name!r} points to the absolute path {target!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if not _inside(resolved):
            raise _refuse(f"symlink {member.name!r} points outside the target ({target!r})")
    elif member.islnk():
        target = member.linkname
        if target.startswith("/") or ".." in target.split("/"):
            raise _refuse(f"hard link {member.name!r} points outside the target ({target!r})")
    elif member.isdev():
        raise _refuse(f"entry {member.name!r} is a device or FIFO")


def inspect(path: Path) -> int:
    """Check every entry; return how many there are. Raises PayloadFailed on the first bad one."""
    try:
        with tarfile.open(path, mode="r:*") as archive:
            count = 0
            for member in archive:
                check_member(member)
                count += 1
            return count
    except (tarfile.TarError, EOFError, OSError) as error:
        raise _refuse(f"not a readable tar archive ({type(error).__name__})") from None
