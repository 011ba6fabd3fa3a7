"""Pure checks of a decoded PublisherConfig, before anything is written (InvalidInput)."""

from __future__ import annotations

import posixpath
import re

from cvmfs_operator.api import inert
from cvmfs_operator.api.contract import ErrorClass, PublisherConfig
from cvmfs_operator.api.types import PAYLOAD_KINDS, PayloadKind
from cvmfs_operator.publisher.errors import PublisherError

FQRN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # as the CRD: inert in every shell context


def invalid(message: str) -> PublisherError:
    return PublisherError(ErrorClass.INVALID_INPUT, "configure", message)


def normalise_path(path: str) -> str:
    """The transaction path: absolute, no ``..``, no trailing slash (``/`` for the root)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid("path must be an absolute path inside the repository")
    if ".." in path.split("/"):
        raise invalid("path must not contain '..'")
    return posixpath.normpath(path).replace("//", "/")


def confined(relative: str, what: str) -> str:
    """A path relative to the transaction path that stays inside it (``..`` and ``/`` refused)."""
    if not isinstance(relative, str) or not relative.strip("/"):
        raise invalid(f"{what} must name something below the transaction path")
    if relative.startswith("/"):
        raise invalid(f"{what} {relative!r} must be relative to the transaction path")
    parts = relative.split("/")
    if ".." in parts or "\x00" in relative:
        raise invalid(f"{what} {relative!r} leaves the transaction path")
    return posixpath.normpath(relative)


def payload_kind(config: PublisherConfig) -> PayloadKind:
    payload = config.get("payload")
    if not isinstance(payload, dict) or len(payload) != 1:
        raise invalid("payload must have exactly one kind: " + ", ".join(PAYLOAD_KINDS))
    (kind,) = payload
    for known in PAYLOAD_KINDS:
        if kind == known:
            return known
    raise invalid(f"unknown payload kind {kind!r}; expected one of {', '.join(PAYLOAD_KINDS)}")


def _shell_inert(config: PublisherConfig) -> None:
    """Every value cvmfs_server splices into a shell command or sources from server.conf."""
    values = {"stratum0Url": config["stratum0Url"]}
    if "s3" in config:
        s3 = config["s3"]
        values.update({"s3.endpoint": s3["endpoint"], "s3.bucket": s3["bucket"],
                       "s3.region": s3["region"], "s3.prefix": s3["prefix"]})
        if s3["acl"]:  # "" omits the header; it is written as "" (conffiles.s3_conf)
            values["s3.acl"] = s3["acl"]
    if "gateway" in config:
        values["gateway.url"] = config["gateway"]["url"]
        problem = inert.gateway_path_error(str(config["path"]))
        if problem:
            raise invalid(f"path (the gateway lease path) {problem}")
    for field, value in values.items():
        problem = inert.bare_error(str(value))
        if problem:
            raise invalid(f"{field} {problem}")


def validate(config: PublisherConfig) -> PayloadKind:
    """Check everything that needs no file system; return the payload kind."""
    if not FQRN.fullmatch(str(config.get("fqrn", ""))):
        raise invalid("fqrn is not a valid repository name")
    if ("s3" in config) == ("gateway" in config):
        raise invalid("exactly one of s3 and gateway must be given")
    if not TAG.fullmatch(str(config.get("tagName", ""))):
        raise invalid("tagName must be 1-63 characters of [A-Za-z0-9_.-] starting with a letter or digit")
    description = config.get("tagDescription")
    if not isinstance(description, str) or (problem := inert.description_error(
            description, inert.PUBLISHED_DESCRIPTION_MAX)):
        raise invalid(f"tagDescription {problem or 'must be a string'}")
    if not str(config.get("stratum0Url", "")).startswith(("http://", "https://")):
        raise invalid("stratum0Url must be an http(s) URL")
    _shell_inert(config)
    normalise_path(config["path"])
    kind = payload_kind(config)
    payload = config["payload"]
    if kind == "tarball":
        url = str(payload["tarball"].get("url", ""))
        sha256 = payload["tarball"].get("sha256")
        if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
            raise invalid("tarball sha256 must be 64 lowercase hexadecimal digits")
        if url.startswith("s3://"):
            bucket, _, key = url[len("s3://"):].partition("/")
            if not bucket or not key:
                raise invalid("tarball url must be s3://bucket/key")
            if "s3" not in config and config.get("staging", {}).get("bucket") != bucket:
                raise invalid("an s3:// tarball needs the repository's S3 endpoint or its staging bucket")
        elif not url.startswith(("http://", "https://")):
            raise invalid("tarball url must be http(s):// or s3://")
    elif kind == "remove":
        paths = payload["remove"].get("paths")
        if not isinstance(paths, list) or not paths:
            raise invalid("remove.paths must be a non-empty list")
        for relative in paths:
            confined(relative, "remove path")
    elif kind == "script":
        if not config.get("allowScripts", False):
            raise invalid("the repository does not allow script payloads")
        if not isinstance(payload["script"].get("source"), str):
            raise invalid("script.source must be a string")
    return kind
