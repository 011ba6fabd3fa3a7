"""Read a Repository's Stratum 0 (S3 or HTTP) with the credentials from its Secret.

The operator's view of a repository comes from the repository itself: this is where the handlers
meet the :mod:`cvmfs_operator.stratum0` readers. Credentials are never logged. A Secret is read
at most once per ``secrets.SECRET_MAX_AGE`` (thousands of Repositories' health reads would otherwise GET
their Secrets every interval) and again at once after S3 refused its keys or they could not be
decoded, so rotated keys take effect as soon as the old ones stop working. Clients come from the
shared pool (:mod:`cvmfs_operator.stratum0.s3_clients`): building a reader builds no client.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Callable

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import Repository, Transaction
from cvmfs_operator.clients.errors import KubeError
from cvmfs_operator.handlers.runtime import Runtime
from cvmfs_operator.reconcile.observed import Stratum0View
from cvmfs_operator.render.transaction import effective_tag
from cvmfs_operator.stratum0 import (
    AccessDenied,
    HttpReader,
    InvalidConfiguration,
    S3Reader,
    Stratum0Error,
    Stratum0Reader,
)
from cvmfs_operator.stratum0.s3_reader import Timeouts
from cvmfs_operator.stratum0.tags import find_in


def _decode(data: dict[str, str], key: str, secret: str) -> str:
    if key not in data:
        raise InvalidConfiguration(f"Secret {secret} has no key {key!r}")
    try:
        return base64.b64decode(data[key], validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidConfiguration(f"Secret {secret} key {key!r} is not valid base64 text") from None


ReaderFactory = Callable[[Runtime, Repository], Stratum0Reader]


def reader_for(rt: Runtime, repo: Repository) -> Stratum0Reader:
    """A reader for the repository; raises Stratum0Error or KubeError naming what is wrong."""
    fqrn = repo["metadata"]["name"]
    stratum0 = repo["spec"]["stratum0"]
    # One attempt: a read that times out is tried again on the next look, not within this one.
    timeouts = Timeouts(connect=rt.settings.s3_timeout / 2, read=rt.settings.s3_timeout, attempts=1)
    if "s3" in stratum0:
        secret = stratum0["s3"]["credentialsSecretRef"]["name"]
        data = rt.secrets.read(rt.kube, rt.settings.namespace, secret)
        try:
            return S3Reader.from_spec(
                fqrn, stratum0["s3"], timeouts=timeouts,
                access_key=_decode(data, contract.S3_ACCESS_KEY_FILE, secret),
                secret_key=_decode(data, contract.S3_SECRET_KEY_FILE, secret))
        except InvalidConfiguration:
            rt.secrets.forget(rt.settings.namespace, secret)
            raise
    return HttpReader(stratum0["url"], timeout=rt.settings.s3_timeout)


def endpoint_of(repo: Repository) -> str:
    """The Stratum 0 endpoint a Repository is read from (its S3 endpoint, else its URL's scheme,
    host and port): Repositories on one endpoint share its reachability."""
    stratum0 = repo["spec"]["stratum0"]
    if "s3" in stratum0:
        return stratum0["s3"]["endpoint"].rstrip("/")
    parts = urllib.parse.urlsplit(stratum0["url"])
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def refused(rt: Runtime, repo: Repository, error: Stratum0Error) -> None:
    """After S3 refused the keys: read the Repository's Secret afresh next time (rotated keys)."""
    s3 = repo["spec"]["stratum0"].get("s3")
    if isinstance(error, AccessDenied) and s3 is not None:
        rt.secrets.forget(rt.settings.namespace, s3["credentialsSecretRef"]["name"])


def read_for_transaction(rt: Runtime, txn: Transaction, repo: Repository | None,
                         readers: ReaderFactory = reader_for, *, reflog: bool = False) -> Stratum0View:
    """The repository as it is now, about this Transaction's tag (:func:`read_repository`)."""
    if repo is None:
        missing = f"Repository {txn['spec']['repository']} does not exist"
        return Stratum0View(error=missing, reflog_read=reflog)
    return read_repository(rt, repo, effective_tag(txn), readers, reflog=reflog)


def read_repository(rt: Runtime, repo: Repository, tag: str | None, readers: ReaderFactory = reader_for,
                    *, reflog: bool) -> Stratum0View:
    """Revision, reflog hash and ``tag`` (None: no tag) as the repository has them now, with its
    tag database kept so that the read can be handed on with the lock (handlers/handover.py).

    ``repo`` is the Repository as just observed (not read again here). With ``reflog``, the
    bucket's ``.cvmfsreflog`` is hashed too (what ``cvmfs_server`` checks at signing time). A read
    that fails is still a read of what was asked (``reflog_read``): the decision reports the error
    instead of asking for the same read again."""
    try:
        reader = readers(rt, repo)
        manifest = reader.manifest()
        database = reader.tag_database(manifest)
        found = find_in(database, tag) if tag else None
        bucket_reflog = reader.reflog_checksum(manifest.hash_algorithm) if reflog else None
    except Stratum0Error as error:
        rt.metrics.api_errors.labels("stratum0").inc()
        refused(rt, repo, error)
        return Stratum0View(error=str(error), reflog_read=reflog)
    except KubeError as error:
        return Stratum0View(error=f"cannot read the S3 credentials: {error}", reflog_read=reflog)
    return Stratum0View(
        revision=manifest.revision,
        root_hash=manifest.root_hash,
        reflog_hash=manifest.reflog_hash,
        tag_revision=found.revision if found else None,
        tag_hash=found.root_hash if found else None,
        reflog_read=reflog,
        bucket_reflog=bucket_reflog,
        tag_database=database,
    )
