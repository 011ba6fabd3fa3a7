"""The repository-operation program's pure parts: validation, the exact command lines, the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from cvmfs_operator.api.operation_contract import (
    OPERATION_CONTRACT_VERSION,
    OperationConfig,
    OperationErrorClass,
    decode_operation_config,
    encode_operation_result,
)
from cvmfs_operator.publisher.operation_commands import classify, commands
from cvmfs_operator.publisher.operation_errors import OperationError
from cvmfs_operator.publisher.operation_validate import validate
from cvmfs_operator.publisher.paths import Layout
from cvmfs_operator.publisher.process import Completed

FQRN = "sw.example.org"
E = OperationErrorClass
LAYOUT = Layout(root=Path("/"), fqrn=FQRN, result_path=Path("/dev/termination-log"))


def config(operation: str, parameters: dict[str, Any] | None = None, **overrides: Any) -> OperationConfig:
    data: dict[str, Any] = {
        "contractVersion": OPERATION_CONTRACT_VERSION, "operation": operation, "fqrn": FQRN,
        "stratum0Url": "http://s3.example.org/bucket/sw.example.org",
        "s3": {"endpoint": "http://s3.example.org", "bucket": "bucket", "region": "us-east-1",
               "dnsBuckets": False, "prefix": FQRN, "maxConnections": 4, "acl": "public-read"},
        "settings": {"hashAlgorithm": "sha1", "compressionAlgorithm": "default", "garbageCollection": True,
                     "autoTag": False},
        "reflogChecksum": "a" * 40, "revisionBefore": None, "request": "team/op"}
    if parameters is not None:
        data[operation] = parameters
    data.update(overrides)
    return cast(OperationConfig, data)


@pytest.mark.parametrize(("operation", "parameters", "expected"), [
    ("create", {}, [["mkfs", "-u", f"S3,/var/spool/cvmfs/{FQRN}/tmp,{FQRN}@/etc/cvmfs/s3/{FQRN}.conf",
                     "-w", "http://s3.example.org/bucket/sw.example.org", "-o", "root",
                     "-k", "/etc/cvmfs/keys", "-p", "-z", "-g", "-a", "sha1", "-Z", "default", FQRN]]),
    ("rollback", {"tag": "r4"}, [["rollback", "-t", "r4", "-f", FQRN]]),
    ("tag", {"action": "add", "name": "v1", "description": "first one"},
     [["tag", "-a", "v1", "-m", "first one", FQRN]]),
    ("tag", {"action": "remove", "name": "generic-2026-01-01T00:00:00Z"},
     [["tag", "-r", "generic-2026-01-01T00:00:00Z", "-f", FQRN]]),
    ("resign", {}, [["resign", "-d", "30", FQRN]]),
    ("resign", {"whitelistDays": 60}, [["resign", "-d", "60", "-f", FQRN]]),
    ("gc", {"keepRevisions": 2, "dryRun": True},
     [["gc", "-f", "-r", "2", "-d", "-L", f"/var/spool/cvmfs/gc-deletions.{FQRN}.log", FQRN]]),
    ("gc", {"keepSince": "2026-01-01T00:00:00Z"},
     [["gc", "-f", "-t", "@1767225600", "-L", f"/var/spool/cvmfs/gc-deletions.{FQRN}.log", FQRN]]),
    ("check", {"chunks": False, "repairReflog": True, "tag": "r4"},
     [["check", "-c", "-r", "-t", "r4", FQRN]]),
    ("check", {}, [["check", FQRN]]),
])
def test_command_lines(operation: str, parameters: dict[str, Any], expected: list[list[str]]) -> None:
    cfg = config(operation, parameters)
    validate(cfg)
    assert commands(cfg, LAYOUT) == expected


def test_create_with_other_whitelist_days_resigns_after_mkfs() -> None:
    assert commands(config("create", {"whitelistDays": 7}), LAYOUT)[1] == ["resign", "-d", "7", FQRN]


def test_tag_at_a_root_hash() -> None:
    cfg = config("tag", {"action": "move", "name": "v1", "revision": 4})
    assert commands(cfg, LAYOUT, "f" * 40) == [["tag", "-a", "v1", "-h", "f" * 40, FQRN]]


@pytest.mark.parametrize(("operation", "parameters", "overrides", "error_class"), [
    ("tag", {"action": "add", "name": "v1", "description": "x $(id)"}, {}, E.INVALID_INPUT),
    ("tag", {"action": "add", "name": "v1", "description": 'x"; id; "'}, {}, E.INVALID_INPUT),
    ("tag", {"action": "add", "name": "v1;id"}, {}, E.INVALID_INPUT),
    ("tag", {"action": "add", "name": "trunk"}, {}, E.NOT_ALLOWED),
    ("tag", {"action": "remove", "name": "v1", "description": "d"}, {}, E.INVALID_INPUT),
    ("rollback", {"tag": "trunk-previous"}, {}, E.NOT_ALLOWED),
    ("rollback", {"tag": "$(id)"}, {}, E.INVALID_INPUT),
    ("check", {"tag": "r4 -x"}, {}, E.INVALID_INPUT),
    ("resign", {"whitelistDays": 0}, {}, E.INVALID_INPUT),
    ("gc", {"keepRevisions": 1, "keepSince": "2026-01-01T00:00:00Z"}, {}, E.INVALID_INPUT),
    ("gc", {}, {"reflogChecksum": None}, E.INVALID_INPUT),
    ("gc", {}, {"settings": {"garbageCollection": False}}, E.NOT_ALLOWED),
    ("rollback", {"tag": "r4"}, {"gateway": {"url": "http://gw:4929/api/v1"}}, E.INVALID_INPUT),
    ("create", {}, {"stratum0Url": "http://x/$(id)"}, E.INVALID_INPUT),
    ("tag", None, {}, E.INVALID_INPUT),
])
def test_refused_before_anything_runs(operation: str, parameters: dict[str, Any] | None,
                                      overrides: dict[str, Any], error_class: OperationErrorClass) -> None:
    with pytest.raises(OperationError) as caught:
        validate(config(operation, parameters, **overrides))
    assert caught.value.error_class == error_class
    assert caught.value.step == "configure"


@pytest.mark.parametrize(("operation", "output", "error_class"), [
    ("gc", "Garbage Collection is not enabled for sw.example.org", E.NOT_ALLOWED),
    ("gc", "repository does not allow garbage collection\nFail (6)!", E.NOT_ALLOWED),
    ("rollback", "Target tag 'x' does not exist", E.NOT_FOUND),
    ("rollback", "data corruption in .cvmfsreflog for x, run `cvmfs_server check -r` to fix\nSigning failed",
     E.REFLOG_MISMATCH),
    ("tag", "a tag with the name 'x' already exists. Do you want to move it?", E.ALREADY_EXISTS),
    ("check", "data chunk ab (/x) missing\nCATALOG PROBLEMS OR OTHER ERRORS FOUND", E.CHECK_FAILED),
    ("check", "no such tag: x", E.NOT_FOUND),
    ("resign", "something else", E.OPERATION_FAILED),
])
def test_failures_are_classified_by_what_cvmfs_server_printed(operation: str, output: str,
                                                              error_class: OperationErrorClass) -> None:
    failure = classify(config(operation)["operation"], Completed(returncode=1, output=output))
    assert failure.error_class == error_class
    assert failure.step == "operate"


def test_config_and_result_round_trip_within_the_limit() -> None:
    assert decode_operation_config(json.dumps(config("check", {})))["operation"] == "check"
    with pytest.raises(ValueError, match="unknown operation"):
        decode_operation_config(json.dumps(config("format")))
    result: dict[str, Any] = {"message": "m", "logTail": ["x" * 200] * 100}
    assert len(encode_operation_result(cast(Any, result))) < 4096
