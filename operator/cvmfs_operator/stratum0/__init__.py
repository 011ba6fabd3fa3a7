"""Stratum 0 insight: read a CernVM-FS repository's manifest, whitelist and tags from S3 or HTTP.

Pure parsers (:mod:`manifest`, :mod:`whitelist`, :mod:`tags`), readers behind one Protocol
(:mod:`reader`, :mod:`s3_reader`, :mod:`http_reader`), and pure decisions on what was read
(:mod:`health`, :mod:`published`). See docs/stratum0.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are loaded on first use (PEP 562): importing one submodule (the layout, the parsers) must not
# import boto3 for the S3 reader, which costs ~0.3 s of CPU per process (the publisher's test doubles
# start dozens of processes that only need the layout).
_WHERE = {
    "merge_conditions": "cvmfs_operator.stratum0.conditions",
    "rfc3339": "cvmfs_operator.stratum0.conditions",
    "AccessDenied": "cvmfs_operator.stratum0.errors",
    "BucketMissing": "cvmfs_operator.stratum0.errors",
    "CorruptObject": "cvmfs_operator.stratum0.errors",
    "InvalidConfiguration": "cvmfs_operator.stratum0.errors",
    "ObjectMissing": "cvmfs_operator.stratum0.errors",
    "StorageFailure": "cvmfs_operator.stratum0.errors",
    "Stratum0Error": "cvmfs_operator.stratum0.errors",
    "Unreachable": "cvmfs_operator.stratum0.errors",
    "DEFAULT_WARN_BEFORE": "cvmfs_operator.stratum0.health",
    "assess_health": "cvmfs_operator.stratum0.health",
    "HttpReader": "cvmfs_operator.stratum0.http_reader",
    "Manifest": "cvmfs_operator.stratum0.manifest",
    "parse_manifest": "cvmfs_operator.stratum0.manifest",
    "Observation": "cvmfs_operator.stratum0.observation",
    "observe": "cvmfs_operator.stratum0.observation",
    "NotPublished": "cvmfs_operator.stratum0.published",
    "Published": "cvmfs_operator.stratum0.published",
    "PublishOutcome": "cvmfs_operator.stratum0.published",
    "publish_outcome": "cvmfs_operator.stratum0.published",
    "ObjectReader": "cvmfs_operator.stratum0.reader",
    "Stratum0Reader": "cvmfs_operator.stratum0.reader",
    "data_object_name": "cvmfs_operator.stratum0.reader",
    "S3Reader": "cvmfs_operator.stratum0.s3_reader",
    "Timeouts": "cvmfs_operator.stratum0.s3_reader",
    "TagInfo": "cvmfs_operator.stratum0.tags",
    "find_tag": "cvmfs_operator.stratum0.tags",
    "list_tags": "cvmfs_operator.stratum0.tags",
    "Whitelist": "cvmfs_operator.stratum0.whitelist",
    "parse_whitelist": "cvmfs_operator.stratum0.whitelist",
}

if TYPE_CHECKING:
    from cvmfs_operator.stratum0.conditions import (
        merge_conditions,
        rfc3339,
    )
    from cvmfs_operator.stratum0.errors import (
        AccessDenied,
        BucketMissing,
        CorruptObject,
        InvalidConfiguration,
        ObjectMissing,
        StorageFailure,
        Stratum0Error,
        Unreachable,
    )
    from cvmfs_operator.stratum0.health import (
        DEFAULT_WARN_BEFORE,
        assess_health,
    )
    from cvmfs_operator.stratum0.http_reader import HttpReader
    from cvmfs_operator.stratum0.manifest import (
        Manifest,
        parse_manifest,
    )
    from cvmfs_operator.stratum0.observation import (
        Observation,
        observe,
    )
    from cvmfs_operator.stratum0.published import (
        NotPublished,
        Published,
        PublishOutcome,
        publish_outcome,
    )
    from cvmfs_operator.stratum0.reader import (
        ObjectReader,
        Stratum0Reader,
        data_object_name,
    )
    from cvmfs_operator.stratum0.s3_reader import (
        S3Reader,
        Timeouts,
    )
    from cvmfs_operator.stratum0.tags import (
        TagInfo,
        find_tag,
        list_tags,
    )
    from cvmfs_operator.stratum0.whitelist import (
        Whitelist,
        parse_whitelist,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_WARN_BEFORE",
    "AccessDenied",
    "BucketMissing",
    "CorruptObject",
    "HttpReader",
    "InvalidConfiguration",
    "Manifest",
    "NotPublished",
    "ObjectMissing",
    "ObjectReader",
    "Observation",
    "PublishOutcome",
    "Published",
    "S3Reader",
    "StorageFailure",
    "Stratum0Error",
    "Stratum0Reader",
    "TagInfo",
    "Timeouts",
    "Unreachable",
    "Whitelist",
    "assess_health",
    "data_object_name",
    "find_tag",
    "list_tags",
    "merge_conditions",
    "observe",
    "parse_manifest",
    "parse_whitelist",
    "publish_outcome",
    "rfc3339",
]
