"""Repository health from one observation of its Stratum 0 (pure: no I/O, no clock).

:func:`assess_health` turns an :class:`~cvmfs_operator.stratum0.observation.Observation` (or the
:class:`Stratum0Error` met while reading) into the Repository status fields and four conditions:

- ``Ready``: the manifest and whitelist were read and the repository can be published to.
- ``Unreachable``: True when the endpoint did not answer (timeouts, refused, DNS).
- ``Degraded``: True when the endpoint answered but something is wrong (reason says what).
- ``WhitelistExpiringSoon``: True within ``warn_before`` of expiry, and once it has expired.
- ``Stalled``: True when only a person can fix what is wrong (credentials refused, bucket or
  manifest missing, invalid configuration, wrong bucket or prefix, expired whitelist, a reflog
  changed outside the operator): kstatus users (Flux) then fail at once instead of waiting for
  their timeout. An unreachable endpoint is not Stalled: it may come back by itself.

Whitelist expiry is judged as clients judge it, at hour granularity
(:attr:`Whitelist.effective_expiry`); ``whitelistExpiresAt`` reports the time the file states.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cvmfs_operator.api.types import Condition, RepositoryStatus
from cvmfs_operator.stratum0.conditions import ConditionStatus, make_condition, rfc3339
from cvmfs_operator.stratum0.errors import (
    AccessDenied,
    BucketMissing,
    CorruptObject,
    InvalidConfiguration,
    ObjectMissing,
    Stratum0Error,
    Unreachable,
)
from cvmfs_operator.stratum0.manifest import Manifest
from cvmfs_operator.stratum0.observation import Observation
from cvmfs_operator.stratum0.whitelist import Whitelist

DEFAULT_WARN_BEFORE = datetime.timedelta(days=7)

READY = "Ready"
UNREACHABLE = "Unreachable"
DEGRADED = "Degraded"
WHITELIST_EXPIRING_SOON = "WhitelistExpiringSoon"
STALLED = "Stalled"
CONDITION_TYPES = (READY, UNREACHABLE, DEGRADED, WHITELIST_EXPIRING_SOON, STALLED)
NEEDS_A_PERSON = frozenset({"CredentialsRefused", "BucketMissing", "ManifestMissing", "ManifestCorrupt",
                            "WhitelistCorrupt", "InvalidConfiguration", "NameMismatch",
                            "WhitelistExpired", "ReflogMismatch"})

_ConditionFactory = Callable[[str, ConditionStatus, str, str], Condition]


@dataclass(frozen=True)
class _Verdict:
    """What is wrong, if anything: the reason both Ready=False and Degraded/Unreachable carry."""

    reason: str
    message: str
    unreachable: bool = False


def assess_health(result: Observation | Stratum0Error, *, now: datetime.datetime,
                  fqrn: str | None = None, previous: Sequence[Condition] = (),
                  warn_before: datetime.timedelta = DEFAULT_WARN_BEFORE,
                  observed_generation: int | None = None,
                  reflog_mismatch: str | None = None) -> RepositoryStatus:
    """Status fields (``revision``, ``rootHash``, ``publishedAt``, ``whitelistExpiresAt``, as far as
    they were read) and the five conditions, ready to merge into ``Repository.status``.

    ``previous`` are the current conditions (their ``lastTransitionTime`` is kept when a status
    does not change); ``fqrn`` enables the check that the objects belong to this repository.
    ``reflog_mismatch`` is the message of an unacknowledged reflog mismatch a Transaction found
    (the repository changed outside the operator): Ready=False, Degraded=True, reason ReflogMismatch.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware 'now'")
    observation = result if isinstance(result, Observation) else Observation(result, None)
    manifest = observation.manifest if isinstance(observation.manifest, Manifest) else None
    whitelist = observation.whitelist if isinstance(observation.whitelist, Whitelist) else None
    verdict = _verdict(observation, manifest, whitelist, now, fqrn)
    if verdict is None and reflog_mismatch:
        verdict = _Verdict("ReflogMismatch", reflog_mismatch)

    def condition(type_: str, status: ConditionStatus, reason: str, message: str) -> Condition:
        return make_condition(type_, status, reason, message, now=now, previous=previous,
                              observed_generation=observed_generation)

    status = RepositoryStatus()
    if manifest is not None:
        status["revision"] = manifest.revision
        status["rootHash"] = manifest.root_hash
        if manifest.timestamp is not None:
            status["publishedAt"] = rfc3339(datetime.datetime.fromtimestamp(manifest.timestamp,
                                                                            datetime.UTC))
    if whitelist is not None:
        status["whitelistExpiresAt"] = rfc3339(whitelist.expires_at)

    if verdict is None and manifest is not None and whitelist is not None:
        ready = condition(READY, "True", "Published",
                          f"revision {manifest.revision} (root catalog {manifest.root_hash[:12]}), "
                          f"whitelist valid until {rfc3339(whitelist.effective_expiry)}")
    else:
        verdict = verdict or _Verdict("WhitelistMissing", "the whitelist was not read")
        ready = condition(READY, "False", verdict.reason, verdict.message)
    if verdict is not None and verdict.unreachable:
        reachable = condition(UNREACHABLE, "True", verdict.reason, verdict.message)
        degraded = condition(DEGRADED, "Unknown", verdict.reason, "the Stratum 0 did not answer")
    else:
        reachable = condition(UNREACHABLE, "False", "Reachable", "the Stratum 0 answered")
        degraded = condition(DEGRADED, "True", verdict.reason, verdict.message) if verdict is not None \
            else condition(DEGRADED, "False", "Healthy", "manifest and whitelist are valid")
    expiring = _expiry_condition(whitelist, now, warn_before, condition)
    if verdict is not None and verdict.reason in NEEDS_A_PERSON:
        stalled = condition(STALLED, "True", verdict.reason, verdict.message)
    else:
        stalled = condition(STALLED, "False", "Progressing", "nothing needs a person")
    status["conditions"] = [ready, reachable, degraded, expiring, stalled]
    return status


def still_unreachable(before: RepositoryStatus | None, after: RepositoryStatus) -> bool:
    """True when ``after`` says again what ``before`` said of an endpoint that does not answer, in
    other words (the error text of each failed read differs): not worth a status write."""
    if before is None or not _unreachable(after):
        return False
    if any(before.get(key) != value for key, value in after.items() if key != "conditions"):
        return False

    def shape(status: RepositoryStatus) -> list[tuple[str, str, str]]:
        return [(c["type"], c["status"], c["reason"]) for c in status.get("conditions", [])]
    return shape(before) == shape(after)


def _unreachable(status: RepositoryStatus) -> bool:
    return any(c["type"] == UNREACHABLE and c["status"] == "True" for c in status.get("conditions", []))


def _verdict(observation: Observation, manifest: Manifest | None, whitelist: Whitelist | None,
             now: datetime.datetime, fqrn: str | None) -> _Verdict | None:
    if isinstance(observation.manifest, Stratum0Error):
        return _error_verdict(observation.manifest, "Manifest")
    if isinstance(observation.whitelist, Stratum0Error):
        return _error_verdict(observation.whitelist, "Whitelist")
    if manifest is None or whitelist is None:
        return _Verdict("WhitelistMissing", "the whitelist was not read")
    if fqrn is not None:
        for what, name in (("manifest", manifest.name), ("whitelist", whitelist.name)):
            if name is not None and name != fqrn:
                return _Verdict("NameMismatch", f"the {what} belongs to {name!r}, not {fqrn!r} "
                                                "(wrong bucket or prefix?)")
    if whitelist.expired(now):
        return _Verdict("WhitelistExpired",
                        f"the whitelist expired at {rfc3339(whitelist.effective_expiry)}: publishing "
                        "fails and clients stop updating until it is re-signed with the master key")
    return None


def _error_verdict(error: Stratum0Error, what: str) -> _Verdict:
    if isinstance(error, Unreachable):
        return _Verdict("Unreachable", error.message, unreachable=True)
    if isinstance(error, AccessDenied):
        return _Verdict("CredentialsRefused", error.message)
    if isinstance(error, BucketMissing):
        return _Verdict("BucketMissing", error.message)
    if isinstance(error, ObjectMissing):
        return _Verdict(f"{what}Missing", error.message)
    if isinstance(error, CorruptObject):
        return _Verdict(f"{what}Corrupt", error.message)
    if isinstance(error, InvalidConfiguration):
        return _Verdict("InvalidConfiguration", error.message)
    return _Verdict("StorageError", error.message)


def _expiry_condition(whitelist: Whitelist | None, now: datetime.datetime,
                      warn_before: datetime.timedelta, condition: _ConditionFactory) -> Condition:
    if whitelist is None:
        return condition(WHITELIST_EXPIRING_SOON, "Unknown", "WhitelistUnknown",
                         "the whitelist could not be read")
    expiry = whitelist.effective_expiry
    if whitelist.expired(now):
        return condition(WHITELIST_EXPIRING_SOON, "True", "WhitelistExpired",
                         f"the whitelist expired at {rfc3339(expiry)}")
    left = expiry - now
    if left <= warn_before:
        return condition(WHITELIST_EXPIRING_SOON, "True", "WhitelistExpiringSoon",
                         f"the whitelist expires at {rfc3339(expiry)} (in {_duration(left)}); "
                         "re-sign it with the master key")
    return condition(WHITELIST_EXPIRING_SOON, "False", "WhitelistValid",
                     f"the whitelist is valid until {rfc3339(expiry)}")


def _duration(delta: datetime.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d{hours % 24}h" if hours >= 24 else f"{hours}h{int(delta.seconds % 3600 // 60)}m"
