"""RepositoryOperations and a Repository's maintenance: which operation, the checks the operator
makes itself (naming the field), effective values once defaults apply, and which keys each needs.

The CRD's schema and CEL rules refuse all of this at admission; the operator checks again because
objects can reach it without admission (see api/validation.py), and because CEL cannot parse a cron
expression: a schedule that passes the CRD's character check but never fires is found here.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cvmfs_operator.api import cron, inert
from cvmfs_operator.api.types import OPERATION_KINDS, OperationKind, Repository, RepositoryOperation
from cvmfs_operator.api.validation import FQRN

NEW_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # added or moved: as Transaction tags
EXISTING_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+=@%,/-]{0,254}$")  # e.g. generic-<time> auto tags
UNDO_TAGS = frozenset({"trunk", "trunk-previous"})  # CernVM-FS moves them; swissknife refuses edits
TAG_ACTIONS = ("add", "move", "remove")
GO_DURATION = re.compile(r"^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

DEFAULT_TIMEOUT_SECONDS = 3600
DEFAULT_BACKOFF_LIMIT = 2
DEFAULT_WHITELIST_DAYS = 30  # cvmfs_server resign and mkfs
MAX_WHITELIST_DAYS = 30  # resign -d over 30 asks for confirmation (cvmfs_server_resign.sh)
DEFAULT_LEAD_TIME = datetime.timedelta(hours=168)
DEFAULT_GC_KEEP = datetime.timedelta(days=3)  # cvmfs_server gc without -r or -t: "3 days ago"


def operation_kind(obj: Mapping[str, Any]) -> OperationKind | None:
    """The one operation ``obj``'s spec holds, or None when it holds none or several."""
    spec = obj.get("spec")
    kinds = [kind for kind in OPERATION_KINDS if isinstance(spec, Mapping) and kind in spec]
    return kinds[0] if len(kinds) == 1 else None


def parse_duration(text: str) -> datetime.timedelta:
    """A Go duration of hours, minutes and seconds (``168h``, ``1h30m``): what the CRD admits."""
    match = GO_DURATION.fullmatch(text) if text else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 168h or 1h30m")
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _int_in(obj: Mapping[str, Any], key: str, low: int, high: int, where: str, errors: list[str]) -> None:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(f"{where}.{key} must be an integer from {low} to {high}")


def _bool(obj: Mapping[str, Any], key: str, where: str, errors: list[str]) -> None:
    if key in obj and not isinstance(obj[key], bool):
        errors.append(f"{where}.{key} must be true or false")


def _tag_name(value: Any, where: str, pattern: re.Pattern[str], errors: list[str]) -> str | None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = "1-63 of [A-Za-z0-9_.-]" if pattern is NEW_TAG else "1-255 of [A-Za-z0-9_.:+=@%,/-]"
        errors.append(f"{where} must be {shown}, starting with a letter or digit")
        return None
    return value


def _operation_errors(kind: OperationKind, body: Mapping[str, Any], errors: list[str]) -> None:
    where = f"spec.{kind}"
    if kind == "rollback":
        name = _tag_name(body.get("tag"), f"{where}.tag", EXISTING_TAG, errors)
        if name in UNDO_TAGS:
            errors.append(f"{where}.tag must not be trunk or trunk-previous; name a tag")
    elif kind == "tag":
        action = body.get("action")
        if action not in TAG_ACTIONS:
            errors.append(f"{where}.action must be one of add, move, remove")
        pattern = EXISTING_TAG if action == "remove" else NEW_TAG
        name = _tag_name(body.get("name"), f"{where}.name", pattern, errors)
        if name in UNDO_TAGS:
            errors.append(f"{where}.name must not be trunk or trunk-previous (managed by CernVM-FS)")
        elif name is not None and action != "remove" and name.startswith("generic-"):
            errors.append(f"{where}.name must not start with generic- (CernVM-FS's automatic tags)")
        if action == "remove" and ("revision" in body or "description" in body):
            errors.append(f"{where}.revision and {where}.description apply only to add and move")
        _int_in(body, "revision", 1, 2**63 - 1, where, errors)
        description = body.get("description")
        if description is not None:
            problem = (inert.description_error(description) if isinstance(description, str)
                       else "must be a string")
            if problem:
                errors.append(f"{where}.description {problem}")
    elif kind == "resign":
        _int_in(body, "whitelistDays", 1, MAX_WHITELIST_DAYS, where, errors)
    elif kind == "gc":
        _int_in(body, "keepRevisions", 1, 1_000_000, where, errors)
        since = body.get("keepSince")
        if since is not None and not (isinstance(since, str) and RFC3339.fullmatch(since)):
            errors.append(f"{where}.keepSince must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
        if "keepRevisions" in body and "keepSince" in body:
            errors.append(f"{where}.keepRevisions and {where}.keepSince are exclusive")
        _bool(body, "dryRun", where, errors)
    elif kind == "check":
        if "tag" in body:
            _tag_name(body["tag"], f"{where}.tag", EXISTING_TAG, errors)
        _bool(body, "chunks", where, errors)


def operation_errors(obj: Mapping[str, Any]) -> list[str]:
    """Every way ``obj`` is not a valid RepositoryOperation, each naming its field; [] when valid."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return ["spec is required"]
    errors: list[str] = []
    repository = spec.get("repository")
    if not isinstance(repository, str) or not FQRN.fullmatch(repository):
        errors.append("spec.repository must be a repository name (FQRN)")
    kind = operation_kind(obj)
    if kind is None:
        errors.append("spec must set exactly one of rollback, tag, resign, gc, check")
    elif not isinstance(spec[kind], Mapping):
        errors.append(f"spec.{kind} must be an object")
    else:
        _operation_errors(kind, spec[kind], errors)
    _int_in(spec, "timeoutSeconds", 1, 86400, "spec", errors)
    _int_in(spec, "backoffLimit", 0, 10, "spec", errors)
    return errors


def _duration_error(value: Any, where: str, errors: list[str]) -> datetime.timedelta | None:
    try:
        duration = parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        duration = None
    if duration is None or duration <= datetime.timedelta(0):
        errors.append(f"{where} must be a positive duration such as 168h or 1h30m")
        return None
    return duration


def maintenance_errors(repo: Mapping[str, Any]) -> list[str]:
    """What is wrong with a Repository's create, masterKeySecretRef and maintenance fields."""
    spec = repo.get("spec")
    if not isinstance(spec, Mapping):
        return []
    errors: list[str] = []
    master = spec.get("masterKeySecretRef")
    keys = spec.get("keysSecretRef")
    if isinstance(master, Mapping) and isinstance(keys, Mapping) and master.get("name") == keys.get("name"):
        errors.append("spec.masterKeySecretRef must name a Secret of its own, not spec.keysSecretRef")
    create = spec.get("create")
    if create is not None:
        if not isinstance(create, Mapping):
            errors.append("spec.create must be an object")
        else:
            _int_in(create, "whitelistDays", 1, MAX_WHITELIST_DAYS, "spec.create", errors)
        if "s3" not in (spec.get("stratum0") or {}):
            errors.append("spec.create needs spec.stratum0.s3")
        if not isinstance(master, Mapping):
            errors.append("spec.create needs spec.masterKeySecretRef")
    maintenance = spec.get("maintenance")
    maintenance = {} if maintenance is None else maintenance
    if not isinstance(maintenance, Mapping):
        return [*errors, "spec.maintenance must be an object"]
    resign = maintenance.get("resign")
    if isinstance(resign, Mapping):
        where = "spec.maintenance.resign"
        _bool(resign, "enabled", where, errors)
        _int_in(resign, "whitelistDays", 1, MAX_WHITELIST_DAYS, where, errors)
        lead = _duration_error(resign.get("leadTime", "168h"), f"{where}.leadTime", errors)
        days = resign.get("whitelistDays", DEFAULT_WHITELIST_DAYS)
        if lead is not None and isinstance(days, int) and lead >= datetime.timedelta(days=days):
            errors.append(f"{where}.leadTime must be shorter than whitelistDays")
    for kind in ("gc", "check"):
        schedule = maintenance.get(kind)
        if schedule is None:
            continue
        where = f"spec.maintenance.{kind}"
        if not isinstance(schedule, Mapping):
            errors.append(f"{where} must be an object")
            continue
        expression = schedule.get("schedule")
        problem = cron.error(expression) if isinstance(expression, str) else "is required"
        if problem:
            errors.append(f"{where}.schedule {problem}")
    gc = maintenance.get("gc")
    if isinstance(gc, Mapping):
        _int_in(gc, "keepRevisions", 1, 1_000_000, "spec.maintenance.gc", errors)
        if "keepFor" in gc:
            _duration_error(gc["keepFor"], "spec.maintenance.gc.keepFor", errors)
        if "keepRevisions" in gc and "keepFor" in gc:
            errors.append("spec.maintenance.gc.keepRevisions and keepFor are exclusive")
        if not (spec.get("settings") or {}).get("garbageCollection", False):
            errors.append("spec.maintenance.gc needs spec.settings.garbageCollection: true")
    return errors


# --------------------------------------------------------------------------------------------
# Effective values
# --------------------------------------------------------------------------------------------


def timeout_seconds(op: RepositoryOperation) -> int:
    return int(op["spec"].get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS))


def backoff_limit(op: RepositoryOperation) -> int:
    return int(op["spec"].get("backoffLimit", DEFAULT_BACKOFF_LIMIT))


@dataclass(frozen=True)
class ResignPolicy:
    enabled: bool  # the Repository asks for it (default) and has a master key Secret
    lead_time: datetime.timedelta
    whitelist_days: int


def resign_policy(repo: Repository) -> ResignPolicy:
    resign = repo["spec"].get("maintenance", {}).get("resign", {})
    has_master_key = "masterKeySecretRef" in repo["spec"]
    return ResignPolicy(
        enabled=bool(resign.get("enabled", True)) and has_master_key,
        lead_time=parse_duration(resign.get("leadTime", "168h")),
        whitelist_days=int(resign.get("whitelistDays", DEFAULT_WHITELIST_DAYS)),
    )


def resign_due(repo: Repository, whitelist_expires: datetime.datetime, now: datetime.datetime) -> bool:
    """Whether the operator should re-sign now (it re-signs only with a master key Secret)."""
    policy = resign_policy(repo)
    return policy.enabled and whitelist_expires - now <= policy.lead_time


def gc_keep_since(keep_for: str | None, slot: datetime.datetime) -> str | None:
    """``spec.gc.keepSince`` of the operation a schedule slot creates (None: keep revisions)."""
    if keep_for is None:
        return None
    return (slot - parse_duration(keep_for)).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refusal(kind: str, repo: Repository) -> tuple[str, str] | None:
    """``(reason, message)`` when ``repo`` cannot run an operation of ``kind`` at all (the operation
    then fails without a pod), or None.

    Behind a gateway only ``check`` runs here: tag and rollback sign through the local upstream
    (not usable with a gateway upstream), gc and resign write the storage, which only the gateway
    host may (CVMFS.md 3.5, 3.7, 3.8).
    """
    spec = repo["spec"]
    fqrn = repo["metadata"]["name"]
    if "gateway" in spec["stratum0"] and kind != "check":
        return ("NotSupportedWithGateway",
                f"{kind} of {fqrn} must run on its repository gateway host, not through the gateway")
    if kind == "gc" and not spec.get("settings", {}).get("garbageCollection", False):
        return ("GarbageCollectionDisabled",
                f"{fqrn} is not garbage-collectable (spec.settings.garbageCollection is false)")
    if keys_needed(kind).master_key and "masterKeySecretRef" not in spec:
        return ("NoMasterKey", f"{fqrn} has no spec.masterKeySecretRef: the whitelist cannot be signed")
    return None


@dataclass(frozen=True)
class KeySet:
    """Which key files an operation's pod gets: repository keys (spec.keysSecretRef, by suffix) and
    whether the master key (spec.masterKeySecretRef) is mounted."""

    repository: tuple[str, ...]
    master_key: bool


# What the cvmfs_server scripts read: signing a manifest (rollback, tag) needs the repository key and
# certificate; a whitelist (resign) the master key and the certificate's fingerprint; gc and check
# only mount and verify (the master public key). The same table as the operation program's
# (api/operation_contract.py KEYS_NEEDED).
KEYS: dict[str, KeySet] = {
    "rollback": KeySet(("crt", "key", "pub"), master_key=False),
    "tag": KeySet(("crt", "key", "pub"), master_key=False),
    "gc": KeySet(("pub",), master_key=False),
    "check": KeySet(("pub",), master_key=False),
    "resign": KeySet(("crt",), master_key=True),
    "create": KeySet(("crt", "key", "pub"), master_key=True),  # mkfs with the generated keys
}


def keys_needed(kind: str) -> KeySet:
    """The keys the pod of ``kind`` (an operation kind, or "create") must have, and no more."""
    return KEYS[kind]
