"""Parsing .cvmfspublished: the real layout from CVMFS.md, the test builder's, and broken ones."""

from __future__ import annotations

import pytest

from cvmfs_operator.stratum0 import CorruptObject, parse_manifest
from tests.support.cvmfs_layout import ManifestFields, fake_hash, manifest_bytes

# Header observed with cvmfs_server 2.12.0 (CVMFS.md "Verified"), then "--", hash and binary bytes.
REAL_HEADER = b"""C093aadd73f244e18defc490633843b3758c7e576
B16384
Rd41d8cd98f00b204e9800998ecf8427e
D240
S3
Gyes
Ano
Nrig.example.org
X0a6960cc63fc506c3cd808c47c365d307854e076
H639d61ed9a842a1764c1fc3a16df2603e7ff74ca
T1795314195
M85e4f386da0d5d77c7f66cf2f58e10951f24b653
Yb8c948bb61171beabee5e8ce935b0cee6773cabf
"""
SIGNATURE = b"--\n" + b"a" * 40 + b"\n\xff\x00\x8a\n--\nCnot-a-hash\n\x00"


def test_real_manifest_fields() -> None:
    manifest = parse_manifest(REAL_HEADER + SIGNATURE)
    assert manifest.revision == 3
    assert manifest.root_hash == "093aadd73f244e18defc490633843b3758c7e576"
    assert manifest.timestamp == 1795314195
    assert manifest.tag_db_hash == "639d61ed9a842a1764c1fc3a16df2603e7ff74ca"
    assert manifest.reflog_hash == "b8c948bb61171beabee5e8ce935b0cee6773cabf"
    assert manifest.certificate_hash == "0a6960cc63fc506c3cd808c47c365d307854e076"
    assert manifest.metainfo_hash == "85e4f386da0d5d77c7f66cf2f58e10951f24b653"
    assert manifest.ttl_seconds == 240
    assert manifest.garbage_collectable is True
    assert manifest.name == "rig.example.org"
    assert manifest.root_catalog_size == 16384
    assert manifest.hash_algorithm == "sha1"
    assert manifest.fields["A"] == "no"


def test_signature_bytes_after_separator_are_never_parsed() -> None:
    # Bytes after "--" that look like fields (and non-ASCII bytes) change nothing.
    assert parse_manifest(REAL_HEADER + SIGNATURE).revision == 3


def test_fresh_repository_without_tags_from_the_builder() -> None:
    data = manifest_bytes(ManifestFields(revision=1, root_hash=fake_hash("r1"), timestamp=1700000000,
                                         fqrn="sw.example.org"))
    manifest = parse_manifest(data)
    assert (manifest.revision, manifest.tag_db_hash, manifest.reflog_hash) == (1, None, None)
    assert manifest.garbage_collectable is False


def test_non_sha1_root_hash_keeps_its_algorithm_id() -> None:
    data = REAL_HEADER.replace(b"C093aadd73f244e18defc490633843b3758c7e576",
                               b"C093aadd73f244e18defc490633843b3758c7e576-shake128")
    assert parse_manifest(data + SIGNATURE).hash_algorithm == "shake128"


def test_unknown_keys_are_kept() -> None:
    data = manifest_bytes(ManifestFields(revision=2, root_hash=fake_hash("r2"), timestamp=1,
                                         fqrn="sw.example.org", extra={"Z": "tip"}))
    assert parse_manifest(data).fields["Z"] == "tip"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", ".cvmfspublished: object is empty", id="empty"),
        pytest.param(REAL_HEADER, ".cvmfspublished: no '--' line ends the header", id="truncated"),
        pytest.param(b"<html>Not Found</html>", ".cvmfspublished: no '--' line", id="html-page"),
        pytest.param(REAL_HEADER.replace(b"S3\n", b"S\n") + SIGNATURE,
                     ".cvmfspublished line 5: field S is not a non-negative integer (revision): ''",
                     id="empty-revision"),
        pytest.param(REAL_HEADER.replace(b"S3\n", b"Sthree\n") + SIGNATURE,
                     ".cvmfspublished line 5: field S is not a non-negative integer (revision): 'three'",
                     id="revision-not-a-number"),
        pytest.param(REAL_HEADER.replace(b"S3\n", b"") + SIGNATURE,
                     ".cvmfspublished: required field S (revision) is missing", id="no-revision"),
        pytest.param(REAL_HEADER.replace(b"C093", b"X093").replace(b"X0a69", b"Y0a69") + SIGNATURE,
                     ".cvmfspublished: required field C (root catalog hash) is missing", id="no-root-hash"),
        pytest.param(REAL_HEADER.replace(b"C093aadd7", b"Czzzz") + SIGNATURE,
                     ".cvmfspublished line 1: field C is not a content hash (root catalog hash)",
                     id="root-hash-not-hex"),
        pytest.param(REAL_HEADER.replace(b"T1795314195", b"T17953x4195") + SIGNATURE,
                     ".cvmfspublished line 11: field T is not a non-negative integer (timestamp)",
                     id="bad-timestamp"),
        pytest.param(REAL_HEADER.replace(b"H639d", b"H63") + SIGNATURE,
                     ".cvmfspublished line 10: field H is not a content hash (tag database hash)",
                     id="short-tag-db-hash"),
        pytest.param(REAL_HEADER.replace(b"Gyes", b"Gmaybe") + SIGNATURE,
                     ".cvmfspublished line 6: field G is not 'yes' or 'no'", id="bad-gc-flag"),
        pytest.param(REAL_HEADER.replace(b"Nrig", "Nr\u00e9g".encode()) + SIGNATURE,
                     ".cvmfspublished line 8: header line is not ASCII text", id="non-ascii"),
        pytest.param(REAL_HEADER.replace(b"D240", b"D-1") + SIGNATURE,
                     ".cvmfspublished line 4: field D is not a non-negative integer (TTL)", id="bad-ttl"),
    ],
)
def test_corrupt_manifest_names_object_line_and_field(data: bytes, message: str) -> None:
    with pytest.raises(CorruptObject) as caught:
        parse_manifest(data)
    assert str(caught.value).startswith(message)
    assert caught.value.object_name == ".cvmfspublished"
