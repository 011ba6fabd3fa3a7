"""Child object names, label values and default tags: bounded, safe, deterministic, distinct."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvmfs_operator.render import names

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CVMFS_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # the CRD's pattern for spec.tag.name

# No example database: these tests do no I/O.
FAST = settings(max_examples=60, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Kubernetes object names as the API admits them: namespaces are DNS labels, Transaction names
# DNS subdomains (dots allowed, up to 253). Raw text covers anything else a caller might pass.
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_label = st.builds(lambda head, body, tail: head + body + tail, st.sampled_from(_ALNUM),
                   st.text(_ALNUM + "-", max_size=61), st.sampled_from(["", *_ALNUM]))
namespaces = _label
subdomains = st.lists(_label, min_size=1, max_size=6).map(".".join).filter(lambda s: len(s) <= 253)
anything = st.text(min_size=0, max_size=300)
uids = st.uuids().map(str)
attempts = st.integers(min_value=1, max_value=1000)

NASTY = [
    "a",
    "x" * 253,
    "release.v1.2.3",
    "Under_Score",
    "UPPER.case.Name",
    "-leading-and-trailing-",
    "..dots..",
    "ünïcödé-ñame",
    "a" * 62 + "-" + "b" * 62,
    "",
]


@FAST
@given(namespaces, subdomains, uids, attempts)
def test_pod_name_is_a_bounded_dns_label(namespace: str, name: str, uid: str, attempt: int) -> None:
    pod = names.pod_name(namespace, name, uid, attempt)
    assert len(pod) <= 63
    assert DNS_LABEL.match(pod), pod
    assert pod == names.pod_name(namespace, name, uid, attempt)
    assert pod.startswith(f"cvmfs-pub-a{attempt}-")


@FAST
@given(anything, anything, uids, attempts)
def test_pod_name_survives_any_text(namespace: str, name: str, uid: str, attempt: int) -> None:
    pod = names.pod_name(namespace, name, uid, attempt)
    assert len(pod) <= 63
    assert DNS_LABEL.match(pod), pod


@FAST
@given(namespaces, subdomains, uids, uids, attempts)
def test_pod_names_differ_per_attempt_and_per_uid(namespace: str, name: str, uid: str, other: str,
                                                   attempt: int) -> None:
    pod = names.pod_name(namespace, name, uid, attempt)
    assert pod != names.pod_name(namespace, name, uid, attempt + 1)
    if other != uid:
        assert pod != names.pod_name(namespace, name, other, attempt)


@pytest.mark.parametrize("name", NASTY)
def test_pod_name_nasty_inputs(name: str) -> None:
    uid = "0b5c3f0e-6a3e-4d1b-9d4f-2f6e1c7a9b10"
    pods = {names.pod_name("team-a", name, uid, attempt) for attempt in range(1, 12)}
    assert len(pods) == 11  # attempts 1 and 11 do not collide
    for pod in pods:
        assert len(pod) <= 63
        assert DNS_LABEL.match(pod), pod


def test_pod_name_keeps_a_readable_part() -> None:
    assert names.pod_name("team-a", "Release_1.0", "u", 1).startswith("cvmfs-pub-a1-team-a-release-1-0-")


@FAST
@given(subdomains)
def test_lock_name_is_a_bounded_dns_label(fqrn: str) -> None:
    lock = names.lock_name(fqrn)
    assert len(lock) <= 63
    assert DNS_LABEL.match(lock), lock
    assert lock == names.lock_name(fqrn)
    assert lock.startswith("cvmfs-lock-")


@FAST
@given(subdomains, subdomains)
def test_lock_names_differ_per_repository(fqrn: str, other: str) -> None:
    if fqrn != other:
        assert names.lock_name(fqrn) != names.lock_name(other)


@pytest.mark.parametrize(("fqrn", "other"), [
    ("software.example.org", "software-example.org"),  # same slug, different repositories
    ("a." * 60 + "org", "a." * 60 + "net"),  # differ only beyond the readable part
])
def test_lock_names_of_look_alike_repositories_differ(fqrn: str, other: str) -> None:
    assert names.lock_name(fqrn) != names.lock_name(other)
    assert len(names.lock_name(fqrn)) <= 63


@FAST
@given(anything)
def test_label_value_is_valid(text: str) -> None:
    value = names.label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value), value
    assert value == names.label_value(text)


@pytest.mark.parametrize("text", NASTY)
def test_label_value_nasty_inputs(text: str) -> None:
    value = names.label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value), value


def test_label_value_keeps_short_values_and_hashes_long_ones() -> None:
    assert names.label_value("software.example.org") == "software.example.org"
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    assert names.label_value(long_a) != names.label_value(long_b)


@FAST
@given(namespaces, subdomains)
def test_default_tag_is_bounded_deterministic_and_cvmfs_safe(namespace: str, name: str) -> None:
    tag = names.default_tag(namespace, name)
    assert len(tag) <= 63
    assert CVMFS_TAG.match(tag), tag
    assert tag == names.default_tag(namespace, name)


@pytest.mark.parametrize(("namespace", "name"), [
    ("team-a", "release-1"),
    ("n" * 63, "x" * 253),
    ("team-a", "release.v1.2.3"),
    ("team-a", "a" * 62 + "." + "b" * 62),
])
def test_default_tag_nasty_inputs(namespace: str, name: str) -> None:
    tag = names.default_tag(namespace, name)
    assert len(tag) <= 63
    assert CVMFS_TAG.match(tag), tag


def test_default_tag_is_readable_when_short() -> None:
    assert names.default_tag("team-a", "release-1") == "team-a_release-1"


def test_long_default_tags_of_different_transactions_differ() -> None:
    base = "r" * 100
    assert names.default_tag("team-a", base + "1") != names.default_tag("team-a", base + "2")


def test_default_tags_of_different_transactions_never_collide() -> None:
    assert names.default_tag("team-a", "release") != names.default_tag("team", "a-release")


@pytest.mark.parametrize(("namespace", "name"), [("trunk", "previous"), ("generic", "nightly")])
def test_default_tag_is_never_a_reserved_tag(namespace: str, name: str) -> None:
    tag = names.default_tag(namespace, name)
    assert tag not in ("trunk", "trunk-previous")
    assert not tag.startswith("generic-")


def test_holder_identity_names_namespace_name_and_uid() -> None:
    assert names.holder_identity("team-a", "release-1", "u-1") == "team-a/release-1/u-1"
