"""File-tree operations inside the open transaction that never follow a symbolic link."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from cvmfs_operator.api.contract import ErrorClass, Step
from cvmfs_operator.publisher.errors import PublisherError


def enter(base: Path, relative: str, step: Step, create: bool) -> Path:
    """``base/relative`` after checking that no component of it is a symbolic link.

    With ``create`` missing directories are made; otherwise the path may not exist yet.
    """
    current = base
    parts = [part for part in relative.split("/") if part]
    for index, part in enumerate(parts):
        current = current / part
        is_last = index == len(parts) - 1
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            if create:
                current.mkdir()
                continue
            return base.joinpath(*parts)
        shown = "/" + "/".join(parts[: index + 1])
        if stat.S_ISLNK(mode) and not (is_last and not create):
            raise PublisherError(ErrorClass.INVALID_INPUT, step,
                                 f"{shown} is a symbolic link; refusing to write through it")
        if create and not stat.S_ISDIR(mode):
            raise PublisherError(ErrorClass.INVALID_INPUT, step, f"{shown} exists and is not a directory")
    return current


def remove(path: Path) -> bool:
    """Delete a file, link or whole directory tree (a link itself, never its target)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink()
    return True


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Recursive ``lchown``; set-id bits are cleared on the way (they never reach the repository)."""
    for directory, dirnames, filenames in os.walk(root):
        os.lchown(directory, uid, gid)
        for name in (*dirnames, *filenames):
            path = os.path.join(directory, name)
            os.lchown(path, uid, gid)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))


def _same_file(source: os.DirEntry[str], target: Path) -> bool:
    try:
        target_stat = os.lstat(target)
    except FileNotFoundError:
        return False
    source_stat = source.stat(follow_symlinks=False)
    if not stat.S_ISREG(target_stat.st_mode) or target_stat.st_size != source_stat.st_size:
        return False
    with open(source.path, "rb") as a, open(target, "rb") as b:
        while True:
            chunk_a, chunk_b = a.read(1 << 20), b.read(1 << 20)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True


def sync(source: Path, target: Path) -> tuple[int, int]:
    """Make ``target`` a copy of ``source`` (files, dirs, symlinks; modes, not owners).

    Unchanged files are left alone, so the union file system copies up only what changed.
    Returns (entries written, entries deleted). Special files are refused.
    """
    written = deleted = 0
    names: set[str] = set()
    with os.scandir(source) as entries:
        for entry in entries:
            names.add(entry.name)
            destination = target / entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if entry.is_symlink():
                link = os.readlink(entry.path)
                if os.path.islink(destination) and os.readlink(destination) == link:
                    continue
                remove(destination)
                os.symlink(link, destination)
                written += 1
            elif stat.S_ISDIR(mode):
                if os.path.islink(destination) or (destination.exists() and not destination.is_dir()):
                    remove(destination)
                destination.mkdir(exist_ok=True)
                os.chmod(destination, stat.S_IMODE(mode))
                sub_written, sub_deleted = sync(Path(entry.path), destination)
                written, deleted = written + sub_written, deleted + sub_deleted
            elif stat.S_ISREG(mode):
                if not _same_file(entry, destination):
                    remove(destination)
                    shutil.copyfile(entry.path, destination, follow_symlinks=False)
                    written += 1
                os.chmod(destination, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))
            else:
                raise PublisherError(ErrorClass.PAYLOAD_FAILED, "payload",
                                     f"staging holds a special file ({entry.name}); refused")
    with os.scandir(target) as existing:
        for entry in existing:
            if entry.name not in names:
                remove(Path(entry.path))
                deleted += 1
    return written, deleted
