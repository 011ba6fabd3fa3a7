"""Put a CernVM-FS repository's objects into a bucket, laid out as cvmfs_server writes them."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.cvmfs_layout import (
    ManifestFields,
    Tag,
    content_key,
    fake_hash,
    manifest_bytes,
    tag_database_bytes,
    whitelist_bytes,
)

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
FQRN = "sw.example.org"
ACL = "public-read"  # what cvmfs_server uploads with by default (CVMFS_S3_X_AMZ_ACL), CVMFS.md §7.9


@dataclass(frozen=True)
class Published:
    revision: int
    root_hash: str
    tag_db_key: str | None


def put_repository(client: Any, bucket: str, *, prefix: str = FQRN, fqrn: str = FQRN, revision: int = 1,
                   tags: Sequence[Tag] = (), whitelist_expires_in: datetime.timedelta | None = None,
                   reflog: bytes | None = None) -> Published:
    """Upload manifest, whitelist, tag database (when ``tags``) and optionally ``.cvmfsreflog``."""
    root_hash = fake_hash(f"{fqrn}-root-{revision}")
    tag_db_hash = tag_db_key = None
    if tags:
        database = tag_database_bytes(tags)
        tag_db_hash, tag_db_key = content_key(prefix, database, "H")
        client.put_object(Bucket=bucket, Key=tag_db_key, Body=database, ACL=ACL)
    reflog_hash = None
    if reflog is not None:
        reflog_hash = fake_hash("reflog")
        client.put_object(Bucket=bucket, Key=f"{prefix}/.cvmfsreflog", Body=reflog, ACL=ACL)
    manifest = manifest_bytes(ManifestFields(revision=revision, root_hash=root_hash,
                                             timestamp=int(NOW.timestamp()), fqrn=fqrn,
                                             tag_db_hash=tag_db_hash, reflog_hash=reflog_hash))
    client.put_object(Bucket=bucket, Key=f"{prefix}/.cvmfspublished", Body=manifest, ACL=ACL)
    expires = NOW + (whitelist_expires_in or datetime.timedelta(days=30))
    client.put_object(Bucket=bucket, Key=f"{prefix}/.cvmfswhitelist",
                      Body=whitelist_bytes(fqrn, NOW - datetime.timedelta(days=1), expires), ACL=ACL)
    return Published(revision=revision, root_hash=root_hash, tag_db_key=tag_db_key)


def release_tag(name: str, revision: int, fqrn: str = FQRN) -> Tag:
    return Tag(name, fake_hash(f"{fqrn}-root-{revision}"), revision, int(NOW.timestamp()), f"{name} tag")
