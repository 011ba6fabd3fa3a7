"""Stratum 0 insight: read a CernVM-FS repository's manifest, whitelist and tags from S3 or HTTP.

Pure parsers (:mod:`manifest`, :mod:`whitelist`, :mod:`tags`), readers behind one Protocol
(:mod:`reader`, :mod:`s3_reader`, :mod:`http_reader`), and pure decisions on what was read
(:mod:`health`, :mod:`published`). See docs/stratum0.md.
"""

from cvmfs_operator.stratum0.conditions import merge_conditions, rfc3339
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
from cvmfs_operator.stratum0.health import DEFAULT_WARN_BEFORE, assess_health
from cvmfs_operator.stratum0.http_reader import HttpReader
from cvmfs_operator.stratum0.manifest import Manifest, parse_manifest
from cvmfs_operator.stratum0.observation import Observation, observe
from cvmfs_operator.stratum0.published import NotPublished, Published, PublishOutcome, publish_outcome
from cvmfs_operator.stratum0.reader import ObjectReader, Stratum0Reader, data_object_name
from cvmfs_operator.stratum0.s3_reader import S3Reader, Timeouts
from cvmfs_operator.stratum0.tags import TagInfo, find_tag, list_tags
from cvmfs_operator.stratum0.whitelist import Whitelist, parse_whitelist

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
