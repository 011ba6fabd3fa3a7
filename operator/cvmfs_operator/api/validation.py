"""Shape checks the operator makes itself, naming the offending field.

The CRD schemas and CEL rules refuse these at admission on a real API server. The operator checks
again because objects can reach it without admission (an older CRD, a server without CEL, a test
API), and a malformed object must end as a precise Failed status or condition, never as a crash
that stalls the other objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cvmfs_operator.api import inert
from cvmfs_operator.api.types import PAYLOAD_KINDS

FQRN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
RESERVED_TAGS = re.compile(r"^(trunk|trunk-previous|generic-.*)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.\[\]:-]+/?$")


def _string(obj: Mapping[str, Any], key: str, where: str, errors: list[str], *,
            required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            errors.append(f"{where}.{key} is required")
        return None
    if not isinstance(value, str) or not value:
        errors.append(f"{where}.{key} must be a non-empty string")
        return None
    return value


def _bare(obj: Mapping[str, Any], key: str, where: str, errors: list[str]) -> None:
    """A string cvmfs_server splices unquoted into shell commands (api.inert)."""
    value = _string(obj, key, where, errors)
    if value is not None and (problem := inert.bare_error(value)):
        errors.append(f"{where}.{key} {problem}")


def _mapping(obj: Mapping[str, Any], key: str, where: str, errors: list[str],
             *, required: bool = True) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        if required:
            errors.append(f"{where}.{key} is required")
        return None
    if not isinstance(value, Mapping):
        errors.append(f"{where}.{key} must be an object")
        return None
    return value


def _path_error(path: str) -> str | None:
    if not path.startswith("/"):
        return "must be absolute"
    if path != "/" and path.endswith("/"):
        return "must not end with '/'"
    if "//" in path:
        return "must not contain '//'"
    if any(part in (".", "..") for part in path.split("/")):
        return "must not contain '.' or '..' segments"
    return None


def _int_in(obj: Mapping[str, Any], key: str, low: int, high: int, errors: list[str]) -> None:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(f"spec.{key} must be an integer from {low} to {high}")


def transaction_errors(body: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    spec = _mapping(body, "spec", "", errors)
    if spec is None:
        return [e.lstrip(".") for e in errors]
    repository = _string(spec, "repository", "spec", errors)
    if repository is not None and not FQRN.fullmatch(repository):
        errors.append("spec.repository must be a repository name (FQRN)")
    path = spec.get("path", "/")
    if not isinstance(path, str) or _path_error(path):
        errors.append(f"spec.path {_path_error(path) if isinstance(path, str) else 'must be a string'}")
    payload = _mapping(spec, "payload", "spec", errors)
    if payload is not None:
        kinds = [kind for kind in PAYLOAD_KINDS if kind in payload]
        if len(kinds) != 1 or len(payload) != 1:
            errors.append("spec.payload must set exactly one of tarball, stage, remove, script")
        elif not isinstance(payload[kinds[0]], Mapping):
            errors.append(f"spec.payload.{kinds[0]} must be an object")
        else:
            _payload_errors(kinds[0], payload[kinds[0]], errors)
    tag = spec.get("tag")
    if tag is not None:
        if not isinstance(tag, Mapping):
            errors.append("spec.tag must be an object")
        elif "name" in tag and (not isinstance(tag["name"], str) or not TAG.fullmatch(tag["name"])
                                or RESERVED_TAGS.match(tag["name"])):
            errors.append("spec.tag.name must be 1-63 characters of [A-Za-z0-9_.-], not a reserved tag")
        description = tag.get("description") if isinstance(tag, Mapping) else None
        if description is not None:
            problem = (inert.description_error(description) if isinstance(description, str)
                       else "must be a string")
            if problem:
                errors.append(f"spec.tag.description {problem}")
    _int_in(spec, "timeoutSeconds", 1, 86400, errors)
    _int_in(spec, "backoffLimit", 0, 10, errors)
    _int_in(spec, "ttlSecondsAfterFinished", 0, 30 * 86400, errors)
    return errors


def _payload_errors(kind: str, payload: Mapping[str, Any], errors: list[str]) -> None:
    where = f"spec.payload.{kind}"
    if kind == "tarball":
        url = _string(payload, "url", where, errors)
        if url is not None and not re.match(r"^(https?://[^/]+|s3://[^/]+/.+)", url):
            errors.append(f"{where}.url must be an http(s):// or s3://bucket/key URL")
        sha256 = payload.get("sha256")
        if sha256 is not None and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
            errors.append(f"{where}.sha256 must be 64 lowercase hexadecimal digits")
    elif kind == "stage":
        _string(payload, "image", where, errors)
    elif kind == "script":
        _string(payload, "source", where, errors)
    elif kind == "remove":
        paths = payload.get("paths")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            errors.append(f"{where}.paths must be a non-empty list of relative paths")
        else:
            for item in paths:
                problem = _path_error("/" + item) if not item.startswith("/") else "must be relative"
                if problem:
                    errors.append(f"{where}.paths entry {item!r} {problem}")


def repository_errors(body: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    name = (body.get("metadata") or {}).get("name", "")
    if not isinstance(name, str) or not FQRN.fullmatch(name):
        errors.append("metadata.name must be a repository name (FQRN, at most 60 characters)")
    spec = _mapping(body, "spec", "", errors)
    if spec is None:
        return [e.lstrip(".") for e in errors]
    stratum0 = _mapping(spec, "stratum0", "spec", errors)
    if stratum0 is not None:
        _bare(stratum0, "url", "spec.stratum0", errors)
        s3 = _mapping(stratum0, "s3", "spec.stratum0", errors, required=False)
        gateway = _mapping(stratum0, "gateway", "spec.stratum0", errors, required=False)
        if (s3 is None) == (gateway is None):
            errors.append("spec.stratum0 must set exactly one of s3, gateway")
        if s3 is not None:
            _string(s3, "endpoint", "spec.stratum0.s3", errors)
            _string(s3, "bucket", "spec.stratum0.s3", errors)
            ref = _mapping(s3, "credentialsSecretRef", "spec.stratum0.s3", errors)
            if ref is not None:
                _string(ref, "name", "spec.stratum0.s3.credentialsSecretRef", errors)
        if gateway is not None:
            _bare(gateway, "url", "spec.stratum0.gateway", errors)
            ref = _mapping(gateway, "keySecretRef", "spec.stratum0.gateway", errors)
            if ref is not None:
                _string(ref, "name", "spec.stratum0.gateway.keySecretRef", errors)
    staging = _mapping(spec, "staging", "spec", errors, required=False)
    if staging is not None:
        _staging_errors(staging, errors)
    keys = _mapping(spec, "keysSecretRef", "spec", errors)
    if keys is not None:
        _string(keys, "name", "spec.keysSecretRef", errors)
    allowed = spec.get("allowedNamespaces")
    if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
        errors.append("spec.allowedNamespaces must be a list of namespace names (or \"*\")")
    return errors


def _staging_errors(staging: Mapping[str, Any], errors: list[str]) -> None:
    s3 = _mapping(staging, "s3", "spec.staging", errors)
    if s3 is None:
        return
    where = "spec.staging.s3"
    endpoint = _string(s3, "endpoint", where, errors)
    if endpoint is not None and not ENDPOINT.fullmatch(endpoint):
        errors.append(f"{where}.endpoint must be http(s)://host[:port] without a path")
    bucket = _string(s3, "bucket", where, errors)
    if bucket is not None and not BUCKET.fullmatch(bucket):
        errors.append(f"{where}.bucket must be 3-63 of [a-z0-9.-], alphanumeric at both ends")
    prefix = _string(s3, "prefix", where, errors, required=False)
    if prefix is not None and not KEY_PREFIX.fullmatch(prefix):
        errors.append(f"{where}.prefix must be segments of [A-Za-z0-9_.-] separated by '/'")
