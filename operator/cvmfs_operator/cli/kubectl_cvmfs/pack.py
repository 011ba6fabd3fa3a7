"""Reproducible tarballs: the same directory content gives the same bytes, hence the same SHA-256.

Entries in sorted order (byte order of their paths), owner root (0/0), mtime 0, modes normalised
(directories and executables 0755, other files 0644), gzip without a name or time stamp. Symbolic
links are kept as links; hard links are stored as separate files; sockets, FIFOs and devices are
refused (exclude them). Exclusions are shell patterns matched against the path relative to the
directory and against each name. Packing streams to a file: memory does not grow with the size.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

CHUNK = 1 << 20


class PackError(ValueError):
    """The directory cannot be packed as asked (special files, nothing left to pack…)."""


@dataclass(frozen=True)
class Packed:
    path: Path  # the tarball
    sha256: str
    size: int
    entries: int  # 0 when an existing tarball was given


class HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()

    def tell(self) -> int:
        return self.size


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """Whether ``relative`` (a/b/c) matches a pattern as a whole or by any of its names."""
    names = relative.split("/")
    return any(fnmatch.fnmatchcase(relative, p) or any(fnmatch.fnmatchcase(n, p) for n in names)
               for p in patterns)


def walk(root: Path, patterns: Sequence[str] = ()) -> list[str]:
    """Relative paths to pack, directories before their content, each level sorted by name."""
    found: list[str] = []

    def visit(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as scan:
            children = sorted(scan, key=lambda e: os.fsencode(e.name))
        for child in children:
            relative = f"{prefix}{child.name}"
            if excluded(relative, patterns):
                continue
            found.append(relative)
            if child.is_dir(follow_symlinks=False):
                visit(Path(child.path), f"{relative}/")

    visit(root, "")
    return found


def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The entry with owner, times and mode made independent of who packed it, and when."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    info.pax_headers = {}
    if info.isdir():
        info.mode = 0o755
    elif info.issym():
        info.mode = 0o777
    else:
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


def _entry(root: Path, relative: str) -> tarfile.TarInfo:
    path = root / relative
    st = path.lstat()
    info = tarfile.TarInfo(relative)
    info.mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        raise PackError(f"{path} is not a regular file, directory or symbolic link; "
                        f"leave it out with --exclude '{relative}'")
    return normalised(info)


def pack_directory(root: Path, target: Path, patterns: Sequence[str] = (), *, compress: bool = True
                   ) -> Packed:
    """Write the reproducible tarball of ``root`` to ``target``."""
    if not root.is_dir():
        raise PackError(f"{root} is not a directory")
    relatives = walk(root, patterns)
    if not relatives:
        raise PackError(f"nothing to publish in {root}" + (" after exclusions" if patterns else ""))
    with target.open("wb") as raw:
        hashing = HashingWriter(raw)
        sink = cast(IO[bytes], hashing)
        zipped = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) if compress else None
        with tarfile.open(fileobj=cast(IO[bytes], zipped) if zipped else sink, mode="w",
                          format=tarfile.PAX_FORMAT) as archive:
            _add(archive, root, relatives)
        if zipped is not None:
            zipped.close()
    return Packed(target, hashing.digest.hexdigest(), hashing.size, len(relatives))


def _add(archive: tarfile.TarFile, root: Path, relatives: Iterable[str]) -> None:
    for relative in relatives:
        info = _entry(root, relative)
        if info.isreg():
            with (root / relative).open("rb") as content:
                archive.addfile(info, content)
        else:
            archive.addfile(info)


def hash_file(path: Path) -> Packed:
    """An existing tarball: its SHA-256 and size, read in chunks."""
    if not path.is_file():
        raise PackError(f"{path} is neither a directory nor a file")
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Packed(path, digest.hexdigest(), size, 0)
