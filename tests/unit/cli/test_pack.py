"""Packing is reproducible: order, owners, times and modes do not depend on who packs, or when."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from cvmfs_operator.cli.kubectl_cvmfs.pack import PackError, excluded, hash_file, pack_directory, walk


def tree(root: Path) -> Path:
    (root / "b" / "c").mkdir(parents=True)
    (root / "b" / "c" / "z.txt").write_text("z")
    (root / "a.sh").write_text("#!/bin/sh\n")
    (root / "a.sh").chmod(0o700)
    (root / "B").write_text("upper")
    os.symlink("b/c/z.txt", root / "link")
    return root


def test_entries_are_sorted_directories_first_and_exclusions_match_names_or_paths(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    (root / "b" / "c" / "x.o").write_text("obj")
    assert walk(root, ["*.o"]) == ["B", "a.sh", "b", "b/c", "b/c/z.txt", "link"]
    assert walk(root, ["b/c"]) == ["B", "a.sh", "b", "link"]
    assert excluded(".git/config", [".git"])
    assert not excluded("gitignore", [".git"])


def test_the_same_content_packs_to_the_same_bytes_whoever_packs_it_and_when(tmp_path: Path) -> None:
    first = pack_directory(tree(tmp_path / "one"), tmp_path / "one.tar")
    second_root = tree(tmp_path / "two")
    os.utime(second_root / "B", (1, 1))
    (second_root / "b" / "c" / "z.txt").chmod(0o600)
    second = pack_directory(second_root, tmp_path / "two.tar")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert hash_file(first.path).sha256 == first.sha256


def test_entries_are_normalised(tmp_path: Path) -> None:
    packed = pack_directory(tree(tmp_path / "src"), tmp_path / "out.tar", compress=False)
    with tarfile.open(packed.path) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert list(members) == ["B", "a.sh", "b", "b/c", "b/c/z.txt", "link"]
    assert {(m.uid, m.gid, m.uname, m.mtime) for m in members.values()} == {(0, 0, "root", 0)}
    assert oct(members["a.sh"].mode) == oct(0o755)  # executable for its owner: executable
    assert oct(members["B"].mode) == oct(0o644)
    assert oct(members["b"].mode) == oct(0o755)
    assert members["link"].issym()
    assert members["link"].linkname == "b/c/z.txt"


def test_special_files_and_empty_directories_are_refused_with_a_way_out(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    with pytest.raises(PackError, match="nothing to publish"):
        pack_directory(root, tmp_path / "out.tar")
    os.mkfifo(root / "pipe")
    with pytest.raises(PackError, match="--exclude 'pipe'"):
        pack_directory(root, tmp_path / "out.tar")
