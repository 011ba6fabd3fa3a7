"""Repository objects in the CernVM-FS storage layout: see cvmfs_operator.stratum0.layout."""

from cvmfs_operator.stratum0.layout import (
    DEFAULT_FINGERPRINT,
    SIGNATURE_BYTES,
    ManifestFields,
    Tag,
    content_key,
    fake_hash,
    manifest_bytes,
    tag_database_bytes,
    whitelist_bytes,
)

__all__ = [
    "DEFAULT_FINGERPRINT",
    "SIGNATURE_BYTES",
    "ManifestFields",
    "Tag",
    "content_key",
    "fake_hash",
    "manifest_bytes",
    "tag_database_bytes",
    "whitelist_bytes",
]
