"""Parsing .cvmfswhitelist: the real layout from CVMFS.md, the test builder's, and broken ones."""

from __future__ import annotations

import datetime

import pytest

from cvmfs_operator.stratum0 import CorruptObject, parse_whitelist
from tests.support.cvmfs_layout import whitelist_bytes

UTC = datetime.UTC
REAL_HEADER = b"""20261122022313
E20261222022313
Nrig.example.org
58:07:51:5E:DD:8F:16:18:9A:59:16:0D:04:71:06:52:C3:2C:F3:69
"""
SIGNATURE = b"--\n" + b"b" * 40 + b"\n\x00\xff\x13signature"


def test_real_whitelist_fields() -> None:
    whitelist = parse_whitelist(REAL_HEADER + SIGNATURE)
    assert whitelist.created_at == datetime.datetime(2026, 11, 22, 2, 23, 13, tzinfo=UTC)
    assert whitelist.expires_at == datetime.datetime(2026, 12, 22, 2, 23, 13, tzinfo=UTC)
    assert whitelist.name == "rig.example.org"
    assert whitelist.fingerprints == ("58:07:51:5E:DD:8F:16:18:9A:59:16:0D:04:71:06:52:C3:2C:F3:69",)
    assert (whitelist.pkcs7, whitelist.ca_chain) == (False, False)


def test_expiry_counts_at_hour_granularity_like_clients() -> None:
    whitelist = parse_whitelist(REAL_HEADER + SIGNATURE)
    assert whitelist.effective_expiry == datetime.datetime(2026, 12, 22, 2, 0, 0, tzinfo=UTC)
    assert not whitelist.expired(datetime.datetime(2026, 12, 22, 1, 59, 59, tzinfo=UTC))
    assert whitelist.expired(datetime.datetime(2026, 12, 22, 2, 10, 0, tzinfo=UTC))


def test_builder_whitelist_with_comments_and_several_fingerprints() -> None:
    created = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    data = whitelist_bytes("sw.example.org", created, created + datetime.timedelta(days=30),
                           ["aa:bb:cc:dd # old key", "11:22:33:44-SHAKE128", "not a fingerprint"])
    whitelist = parse_whitelist(data)
    assert whitelist.fingerprints == ("AA:BB:CC:DD", "11:22:33:44-SHAKE128")
    assert whitelist.expires_at == datetime.datetime(2026, 1, 31, tzinfo=UTC)


def test_pkcs7_and_ca_chain_flags() -> None:
    data = REAL_HEADER.replace(b"Nrig.example.org\n", b"Nrig.example.org\nVpkcs7\nWcachain\n")
    whitelist = parse_whitelist(data + SIGNATURE)
    assert (whitelist.pkcs7, whitelist.ca_chain) == (True, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", ".cvmfswhitelist: object is empty", id="empty"),
        pytest.param(REAL_HEADER, ".cvmfswhitelist: no '--' line ends the header", id="truncated"),
        pytest.param(b"20261122022313\n--\n", ".cvmfswhitelist: expected at least 3 header lines",
                     id="too-short"),
        pytest.param(REAL_HEADER.replace(b"20261122022313\n", b"2026-11-22\n", 1) + SIGNATURE,
                     ".cvmfswhitelist line 1: creation time is not YYYYMMDDHHMMSS: '2026-11-22'",
                     id="bad-creation"),
        pytest.param(REAL_HEADER.replace(b"E2026", b"X2026") + SIGNATURE,
                     ".cvmfswhitelist line 2: expected the expiry line 'E<YYYYMMDDHHMMSS>'", id="no-E"),
        pytest.param(REAL_HEADER.replace(b"E20261222022313", b"E20261399022313") + SIGNATURE,
                     ".cvmfswhitelist line 2: expiry time is not a valid date: '20261399022313'",
                     id="impossible-date"),
        pytest.param(REAL_HEADER.replace(b"Nrig", b"rig") + SIGNATURE,
                     ".cvmfswhitelist line 3: expected the repository name line 'N<fqrn>'", id="no-N"),
        pytest.param(REAL_HEADER.replace(b"58:07:51:5E:DD:8F:16:18:9A:59:16:0D:04:71:06:52:C3:2C:F3:69\n",
                                         b"") + SIGNATURE,
                     ".cvmfswhitelist: no certificate fingerprint after the N line", id="no-fingerprint"),
    ],
)
def test_corrupt_whitelist_names_object_and_line(data: bytes, message: str) -> None:
    with pytest.raises(CorruptObject) as caught:
        parse_whitelist(data)
    assert str(caught.value).startswith(message)
