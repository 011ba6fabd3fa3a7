"""Repository health from what was read: status fields and kstatus-style conditions."""

from __future__ import annotations

import datetime
from typing import cast

import pytest

from cvmfs_operator.api.types import Condition, RepositoryStatus
from cvmfs_operator.stratum0 import (
    AccessDenied,
    BucketMissing,
    CorruptObject,
    Manifest,
    ObjectMissing,
    Observation,
    StorageFailure,
    Stratum0Error,
    Unreachable,
    Whitelist,
    assess_health,
    observe,
    parse_manifest,
    parse_whitelist,
)
from cvmfs_operator.stratum0.health import still_unreachable
from cvmfs_operator.stratum0.observation import KnownWhitelist
from cvmfs_operator.stratum0.reader import Stratum0Reader
from tests.support.cvmfs_layout import ManifestFields, fake_hash, manifest_bytes, whitelist_bytes

UTC = datetime.UTC
FQRN = "sw.example.org"
NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
EARLIER = "2026-11-01T00:00:00Z"


def manifest(revision: int = 1, fqrn: str = FQRN) -> Manifest:
    return parse_manifest(manifest_bytes(ManifestFields(
        revision=revision, root_hash=fake_hash(f"root-{revision}"), timestamp=1795314195, fqrn=fqrn)))


def whitelist(expires_in: datetime.timedelta, fqrn: str = FQRN) -> Whitelist:
    return parse_whitelist(whitelist_bytes(fqrn, NOW - datetime.timedelta(days=1), NOW + expires_in))


def conditions(status: RepositoryStatus) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def assess(result: Observation | Stratum0Error, previous: list[Condition] | None = None,
           now: datetime.datetime = NOW) -> RepositoryStatus:
    return assess_health(result, now=now, fqrn=FQRN, previous=previous or [])


def test_fresh_repository_is_ready() -> None:
    status = assess(Observation(manifest(1), whitelist(datetime.timedelta(days=30))))
    assert status["revision"] == 1
    assert status["rootHash"] == fake_hash("root-1")
    assert status["publishedAt"] == "2026-11-22T02:23:15Z"
    assert status["whitelistExpiresAt"] == "2026-12-22T12:00:00Z"
    assert conditions(status) == {
        "Ready": ("True", "Published"),
        "Unreachable": ("False", "Reachable"),
        "Degraded": ("False", "Healthy"),
        "WhitelistExpiringSoon": ("False", "WhitelistValid"),
        "Stalled": ("False", "Progressing"),
    }
    assert all(c["lastTransitionTime"] == "2026-11-22T12:00:00Z" for c in status["conditions"])
    ready = status["conditions"][0]
    assert ready["message"] == (f"revision 1 (root catalog {fake_hash('root-1')[:12]}), "
                                "whitelist valid until 2026-12-22T12:00:00Z")


def test_advanced_revision_keeps_transition_times() -> None:
    first = assess(Observation(manifest(1), whitelist(datetime.timedelta(days=30))))
    later = NOW + datetime.timedelta(hours=1)
    second = assess(Observation(manifest(2), whitelist(datetime.timedelta(days=30))),
                    previous=first["conditions"], now=later)
    assert second["revision"] == 2
    assert "revision 2" in second["conditions"][0]["message"]
    assert [c["lastTransitionTime"] for c in second["conditions"]] == ["2026-11-22T12:00:00Z"] * 5


def test_transition_time_moves_only_for_changed_status() -> None:
    previous: list[Condition] = [
        Condition(type="Ready", status="True", reason="Published", message="", lastTransitionTime=EARLIER),
        Condition(type="Degraded", status="False", reason="Healthy", message="", lastTransitionTime=EARLIER),
    ]
    status = assess(Observation(manifest(), whitelist(datetime.timedelta(days=3))), previous=previous)
    times = {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}
    assert times == {"Ready": EARLIER, "Degraded": EARLIER, "Unreachable": "2026-11-22T12:00:00Z",
                     "WhitelistExpiringSoon": "2026-11-22T12:00:00Z", "Stalled": "2026-11-22T12:00:00Z"}


def test_whitelist_expiring_soon_warns_but_stays_ready() -> None:
    status = assess(Observation(manifest(), whitelist(datetime.timedelta(days=3, hours=5))))
    assert conditions(status)["Ready"] == ("True", "Published")
    assert conditions(status)["WhitelistExpiringSoon"] == ("True", "WhitelistExpiringSoon")
    message = status["conditions"][3]["message"]
    assert message.startswith("the whitelist expires at 2026-11-25T17:00:00Z (in 3d5h)")


def test_warning_threshold_is_a_parameter() -> None:
    result = Observation(manifest(), whitelist(datetime.timedelta(days=10)))
    default = assess_health(result, now=NOW)
    wider = assess_health(result, now=NOW, warn_before=datetime.timedelta(days=14))
    assert conditions(default)["WhitelistExpiringSoon"][0] == "False"
    assert conditions(wider)["WhitelistExpiringSoon"][0] == "True"


def test_expired_whitelist_is_degraded_and_not_ready() -> None:
    status = assess(Observation(manifest(), whitelist(-datetime.timedelta(hours=2))))
    assert conditions(status) == {
        "Ready": ("False", "WhitelistExpired"),
        "Unreachable": ("False", "Reachable"),
        "Degraded": ("True", "WhitelistExpired"),
        "WhitelistExpiringSoon": ("True", "WhitelistExpired"),
        "Stalled": ("True", "WhitelistExpired"),  # only re-signing helps
    }
    assert status["revision"] == 1
    assert status["whitelistExpiresAt"] == "2026-11-22T10:00:00Z"


def test_whitelist_expired_within_the_same_hour_counts_as_expired() -> None:
    # E says 12:30 but clients compare hours only: at 12:00 it is already refused.
    status = assess(Observation(manifest(), whitelist(datetime.timedelta(minutes=30))))
    assert conditions(status)["Ready"] == ("False", "WhitelistExpired")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AccessDenied("S3 refused access"), "CredentialsRefused"),
        (BucketMissing("bucket 'x' does not exist"), "BucketMissing"),
        (ObjectMissing("no manifest", object_name=".cvmfspublished"), "ManifestMissing"),
        (CorruptObject("field S is bad", object_name=".cvmfspublished", line=5), "ManifestCorrupt"),
        (StorageFailure("HTTP 500"), "StorageError"),
    ],
)
def test_manifest_errors_are_degraded(error: Stratum0Error, reason: str) -> None:
    status = assess(error)
    # A server error may pass; a refusal, a missing or a corrupt object needs a person.
    stalled = ("False", "Progressing") if reason == "StorageError" else ("True", reason)
    assert conditions(status) == {
        "Ready": ("False", reason),
        "Unreachable": ("False", "Reachable"),
        "Degraded": ("True", reason),
        "WhitelistExpiringSoon": ("Unknown", "WhitelistUnknown"),
        "Stalled": stalled,
    }
    assert status["conditions"][0]["message"] == str(error)
    assert "revision" not in status


def test_unreachable_endpoint() -> None:
    status = assess(Observation(Unreachable("connection refused"), None))
    assert conditions(status) == {
        "Ready": ("False", "Unreachable"),
        "Unreachable": ("True", "Unreachable"),
        "Degraded": ("Unknown", "Unreachable"),
        "WhitelistExpiringSoon": ("Unknown", "WhitelistUnknown"),
        "Stalled": ("False", "Progressing"),  # it may come back by itself
    }


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ObjectMissing("gone", object_name=".cvmfswhitelist"), "WhitelistMissing"),
        (CorruptObject("bad", object_name=".cvmfswhitelist", line=2), "WhitelistCorrupt"),
    ],
)
def test_whitelist_errors_still_report_the_revision(error: Stratum0Error, reason: str) -> None:
    status = assess(Observation(manifest(4), error))
    assert status["revision"] == 4
    assert "whitelistExpiresAt" not in status
    assert conditions(status)["Degraded"] == ("True", reason)


def test_objects_of_another_repository() -> None:
    status = assess(Observation(manifest(fqrn="other.example.org"), whitelist(datetime.timedelta(days=30))))
    assert conditions(status)["Degraded"] == ("True", "NameMismatch")
    assert "'other.example.org', not 'sw.example.org'" in status["conditions"][2]["message"]


def test_observed_generation_is_stamped() -> None:
    status = assess_health(Unreachable("down"), now=NOW, observed_generation=7)
    assert {c.get("observedGeneration") for c in status["conditions"]} == {7}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        assess_health(Unreachable("down"), now=datetime.datetime(2026, 1, 1))


def test_a_reflog_changed_outside_the_operator_stalls_until_acknowledged() -> None:
    status = assess_health(Observation(manifest(), whitelist(datetime.timedelta(days=30))), now=NOW,
                           fqrn=FQRN, reflog_mismatch="the bucket's .cvmfsreflog is not ours")
    assert conditions(status)["Ready"] == ("False", "ReflogMismatch")
    assert conditions(status)["Stalled"] == ("True", "ReflogMismatch")


def test_an_endpoint_still_unreachable_in_other_words_is_not_worth_a_write() -> None:
    first = assess_health(Unreachable("timed out reading r1/.cvmfspublished"), now=NOW)
    again = assess_health(Unreachable("refused reading r2/.cvmfspublished"), now=NOW,
                          previous=first["conditions"])
    assert first != again
    assert still_unreachable(first, again)
    back = assess_health(Observation(manifest(), whitelist(datetime.timedelta(days=30))), now=NOW,
                         previous=first["conditions"])
    assert not still_unreachable(first, back)
    assert not still_unreachable(None, again)
    other = dict(again, queueLength=3)
    assert not still_unreachable(first, cast(RepositoryStatus, other))


def test_a_known_whitelist_is_not_read_again_while_the_manifest_is_the_same() -> None:
    current = manifest(revision=4)
    known = KnownWhitelist(whitelist(datetime.timedelta(days=30)), current.root_hash)
    reads: list[str] = []

    class Reader:
        def manifest(self) -> Manifest:
            reads.append("manifest")
            return current

        def whitelist(self) -> Whitelist:
            reads.append("whitelist")
            return whitelist(datetime.timedelta(days=20))

    reader = cast(Stratum0Reader, Reader())
    assert observe(reader, known).whitelist is known.whitelist
    assert reads == ["manifest"]
    current = manifest(revision=5)  # published: the whitelist is read again too
    assert observe(reader, known).whitelist is not known.whitelist
    assert reads == ["manifest", "manifest", "whitelist"]
