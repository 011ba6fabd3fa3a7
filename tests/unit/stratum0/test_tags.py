"""Looking tags up in the zlib-compressed SQLite tag database, as cvmfs writes it."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import zlib

import pytest

from cvmfs_operator.stratum0 import CorruptObject, TagInfo, find_tag, list_tags
from cvmfs_operator.stratum0.tags import _query
from tests.support.cvmfs_layout import Tag, fake_hash, tag_database_bytes

ROOT = fake_hash("revision-3")
TAGS = [
    Tag("rig-release-2", ROOT, 3, 1795314195, "rig release 2"),
    Tag("trunk", ROOT, 3, 1795314195, "current HEAD"),
    Tag("trunk-previous", fake_hash("revision-2"), 2, 1795310000, "default undo target"),
]


def test_tag_present() -> None:
    assert find_tag(tag_database_bytes(TAGS), "rig-release-2") == TagInfo(
        name="rig-release-2", root_hash=ROOT, revision=3, timestamp=1795314195,
        description="rig release 2", channel=0, size=16384, branch="")


def test_tag_absent() -> None:
    assert find_tag(tag_database_bytes(TAGS), "rig-release-9") is None


def test_tag_name_is_matched_exactly_not_as_a_pattern() -> None:
    assert find_tag(tag_database_bytes(TAGS), "rig-release-%") is None
    assert find_tag(tag_database_bytes(TAGS), "TRUNK") is None


def test_tags_listed_by_name() -> None:
    names = [tag.name for tag in list_tags(tag_database_bytes(list(reversed(TAGS))))]
    assert names == ["rig-release-2", "trunk", "trunk-previous"]


def test_empty_tag_database() -> None:
    assert list_tags(tag_database_bytes([])) == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"SQLite format 3\x00 but not compressed", "data/63/9dH: not zlib-compressed data",
                     id="not-zlib"),
        pytest.param(tag_database_bytes(TAGS)[:-40], "data/63/9dH: zlib stream is truncated",
                     id="truncated"),
        pytest.param(zlib.compress(b"this is not a database" * 100), "data/63/9dH: not a cvmfs tag database",
                     id="not-sqlite"),
    ],
)
def test_corrupt_tag_database(data: bytes, message: str) -> None:
    with pytest.raises(CorruptObject) as caught:
        find_tag(data, "trunk", "data/63/9dH")
    assert str(caught.value).startswith(message)


def test_sqlite_without_tags_table() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "other.db")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE catalog (md5path_1 INTEGER)")
        db.commit()
        db.close()
        with open(path, "rb") as f:
            data = zlib.compress(f.read())
    with pytest.raises(CorruptObject, match=r"not a cvmfs tag database .*no such table: tags"):
        list_tags(data, "data/ab/cdH")


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "temporary-file"])
def test_both_ways_of_opening_read_the_same_tags_and_refuse_the_same_garbage(in_memory: bool) -> None:
    """Where Python's SQLite cannot deserialize (older SQLite), a private temporary file is read."""
    sql = "SELECT name, hash, revision, timestamp, channel, description, size, branch FROM tags ORDER BY name"
    tags = _query(tag_database_bytes(TAGS), "data/63/9dH", sql, (), in_memory=in_memory)
    assert tags == sorted(list_tags(tag_database_bytes(TAGS)), key=lambda tag: tag.name)
    with pytest.raises(CorruptObject, match=r"^data/63/9dH: not a cvmfs tag database"):
        _query(zlib.compress(b"this is not a database" * 100), "data/63/9dH", sql, (), in_memory=in_memory)
    before = set(os.listdir(tempfile.gettempdir()))
    _query(tag_database_bytes(TAGS), "data/63/9dH", sql, (), in_memory=in_memory)
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("cvmfs-tags-")}
