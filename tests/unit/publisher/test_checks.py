from __future__ import annotations

import io
import tarfile

import pytest

from cvmfs_operator.publisher import fetch, manifest, tarsafety, validate
from cvmfs_operator.publisher.errors import PublisherError
from cvmfs_operator.publisher.log import Log


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize("member", [
    _member("a/b/c"), _member("./x"), _member("d/link", tarfile.SYMTYPE, "../e"),
    _member("d/hard", tarfile.LNKTYPE, "a/b/c"),
])
def test_safe_members_pass(member: tarfile.TarInfo) -> None:
    tarsafety.check_member(member)


@pytest.mark.parametrize("member", [
    _member("/abs"), _member("a/../../x"), _member("..", tarfile.DIRTYPE),
    _member("l", tarfile.SYMTYPE, "/etc"), _member("d/l", tarfile.SYMTYPE, "../../x"),
    _member("h", tarfile.LNKTYPE, "../x"), _member("dev", tarfile.CHRTYPE),
])
def test_unsafe_members_are_refused(member: tarfile.TarInfo) -> None:
    with pytest.raises(PublisherError) as raised:
        tarsafety.check_member(member)
    assert raised.value.error_class == "PayloadFailed"


@pytest.mark.parametrize(("relative", "ok"), [
    ("a/b", True), ("a", True), ("../a", False), ("a/../../b", False), ("/a", False), ("", False),
])
def test_remove_paths_are_confined(relative: str, ok: bool) -> None:
    if ok:
        assert validate.confined(relative, "remove path") == relative
    else:
        with pytest.raises(PublisherError):
            validate.confined(relative, "remove path")


def test_redaction_covers_whole_values_and_lines() -> None:
    stream = io.StringIO()
    log = Log(stream=stream)
    log.add_secret("line-one-secret\nline-two-secret")
    log.info("got line-two-secret and line-one-secret")
    assert "line-two-secret" not in stream.getvalue()
    assert log.tail() == ["INFO got *** and ***"]


def test_log_tail_is_bounded() -> None:
    log = Log(stream=io.StringIO())
    for i in range(100):
        log.info(f"line {i}")
    assert log.tail()[0] == "INFO line 60"
    assert len(log.tail()) == 40


def test_display_url_drops_credentials_and_query() -> None:
    assert fetch.display_url("https://user:pw@host:8443/a/b.tar?X-Amz-Signature=s") == "https://host:8443/a/b.tar"


def test_manifest_parse_stops_at_the_signature() -> None:
    raw = b"Cabc\nS7\nYdef\n--\n0123\n\xff\x00binary"
    info = manifest.parse(raw)
    assert (info.revision, info.root_hash, info.reflog_hash) == (7, "abc", "def")
