"""Pure checks of a decoded OperationConfig, before anything is written or run.

Every value that reaches a ``cvmfs_server`` command line or a file it sources passes the checks of
:mod:`cvmfs_operator.api.inert` first — the maintenance scripts evaluate them with a shell as the
publish script does (cvmfs_server_tag.sh puts the description in double quotes inside ``sh -c``;
rollback and check splice the tag name unquoted), so a refused value never reaches it.
"""

from __future__ import annotations

import datetime
import re
from typing import cast

from cvmfs_operator.api import inert
from cvmfs_operator.api.operation_contract import (
    MAX_WHITELIST_DAYS,
    OperationConfig,
    OperationErrorClass,
    OperationKind,
)
from cvmfs_operator.api.operations import EXISTING_TAG, NEW_TAG, RFC3339, UNDO_TAGS
from cvmfs_operator.publisher.operation_errors import OperationError
from cvmfs_operator.publisher.validate import FQRN

HASH_ALGORITHMS = ("sha1", "rmd160", "shake128")
COMPRESSIONS = ("default", "zlib", "none")


def invalid(message: str) -> OperationError:
    return OperationError(OperationErrorClass.INVALID_INPUT, "configure", message)


def _integer(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(f"{field} must be an integer from {low} to {high}")
    return value


def tag_name(value: object, field: str, pattern: re.Pattern[str] = NEW_TAG, reserved: bool = True) -> str:
    """A tag name whose characters are literal in every shell context the scripts put it in."""
    if not isinstance(value, str) or not pattern.fullmatch(value) or inert.bare_error(value):
        shown = "1-63 of [A-Za-z0-9_.-]" if pattern is NEW_TAG else "1-255 of [A-Za-z0-9_.:+=@%,/-]"
        raise invalid(f"{field} must be {shown}, starting with a letter or digit")
    if reserved and value in UNDO_TAGS:
        raise OperationError(OperationErrorClass.NOT_ALLOWED, "configure",
                             f"{field} {value!r} is reserved: cvmfs manages trunk and trunk-previous itself")
    return value


def keep_since(text: object) -> int:
    """``gc.keepSince`` (RFC 3339) as Unix seconds, for ``gc -t @<seconds>``."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        raise invalid("gc.keepSince must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _targets(config: OperationConfig, kind: OperationKind) -> None:
    if ("s3" in config) == ("gateway" in config):
        raise invalid("exactly one of s3 and gateway must be given")
    if "gateway" in config and kind != "check":
        raise invalid(f"{kind} needs the repository's storage itself; through a gateway it runs on the "
                      "gateway host (cvmfs uploads nothing but object packs there)")
    values = {"stratum0Url": str(config.get("stratum0Url", ""))}
    if "s3" in config:
        s3 = config["s3"]
        values.update({"s3.endpoint": s3["endpoint"], "s3.bucket": s3["bucket"], "s3.region": s3["region"],
                       "s3.prefix": s3["prefix"]})
        if s3.get("acl"):
            values["s3.acl"] = s3["acl"]
    else:
        values["gateway.url"] = config["gateway"]["url"]
    for field, value in values.items():
        problem = inert.bare_error(str(value))
        if problem:
            raise invalid(f"{field} {problem}")
    if not values["stratum0Url"].startswith(("http://", "https://")):
        raise invalid("stratum0Url must be an http(s) URL")


def _settings(config: OperationConfig) -> None:
    settings = config.get("settings", {})
    if settings.get("hashAlgorithm", "sha1") not in HASH_ALGORITHMS:
        raise invalid(f"settings.hashAlgorithm must be one of {', '.join(HASH_ALGORITHMS)}")
    if settings.get("compressionAlgorithm", "default") not in COMPRESSIONS:
        raise invalid(f"settings.compressionAlgorithm must be one of {', '.join(COMPRESSIONS)}")
    checksum = config.get("reflogChecksum")
    if checksum is not None and (not isinstance(checksum, str) or inert.bare_error(checksum)):
        raise invalid("reflogChecksum must be the hex checksum of the last publish")


def _parameters(config: OperationConfig, kind: OperationKind) -> None:
    given = [name for name in ("create", "rollback", "tag", "resign", "gc", "check") if name in config]
    if given != [kind] and not (kind in ("create", "resign", "gc", "check") and not given):
        found = ", ".join(given) or "none"
        raise invalid(f"the parameters must be exactly the object {kind!r} (found {found})")
    if kind == "rollback":
        tag_name(config["rollback"].get("tag"), "rollback.tag", EXISTING_TAG)
    elif kind == "tag":
        tag = config["tag"]
        if tag.get("action") not in ("add", "move", "remove"):
            raise invalid("tag.action must be add, move or remove")
        removing = tag["action"] == "remove"
        tag_name(tag.get("name"), "tag.name", EXISTING_TAG if removing else NEW_TAG)
        if removing and ("description" in tag or "revision" in tag):
            raise invalid("tag.revision and tag.description apply only to add and move")
        if "revision" in tag:
            _integer(tag["revision"], "tag.revision", 0, 2**63 - 1)
        description = tag.get("description", "")
        if description and (problem := inert.description_error(str(description))):
            raise invalid(f"tag.description {problem}")
    elif kind in ("resign", "create"):
        days = cast(dict[str, object], config.get(kind, {})).get("whitelistDays")
        if days is not None:
            _integer(days, f"{kind}.whitelistDays", 1, MAX_WHITELIST_DAYS)
    elif kind == "gc":
        gc = config.get("gc", {})
        if "keepRevisions" in gc and "keepSince" in gc:
            raise invalid("gc.keepRevisions and gc.keepSince exclude each other (gc -r / -t)")
        if "keepRevisions" in gc:
            _integer(gc["keepRevisions"], "gc.keepRevisions", 0, 1_000_000)
        if "keepSince" in gc:
            keep_since(gc["keepSince"])
        if not config.get("settings", {}).get("garbageCollection", False):
            raise OperationError(OperationErrorClass.NOT_ALLOWED, "configure",
                                 "garbage collection is not enabled for this repository")
        if not config.get("reflogChecksum"):
            raise invalid("gc needs reflogChecksum: cvmfs_server gc reads reflog.chksum and has no fallback")
    elif kind == "check" and "tag" in config.get("check", {}):
        tag_name(config["check"]["tag"], "check.tag", EXISTING_TAG, reserved=False)


def validate(config: OperationConfig) -> OperationKind:
    """Check everything that needs no file system; return the kind."""
    kind = config["operation"]
    if not FQRN.fullmatch(str(config.get("fqrn", ""))):
        raise invalid("fqrn is not a valid repository name")
    _targets(config, kind)
    _settings(config)
    _parameters(config, kind)
    return kind
