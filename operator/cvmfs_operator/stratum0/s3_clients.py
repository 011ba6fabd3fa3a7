"""boto3 S3 clients shared by every reader: one per endpoint, credentials and timeouts, a bounded number.

A client built from a fresh boto3 Session costs about 150 ms of CPU and 10 MB (the Session loads
and keeps its own copy of the S3 service model); from one shared Session it costs a few ms and
little memory, and a client is safe to use from many threads. Readers are built per Repository
and per read, so the clients live here instead: one :class:`ClientPool` per process, least
recently used clients dropped beyond ``max_clients`` (a Repository's next read builds its client
again). A Session is not thread-safe, so clients are built under a lock.

botocore builds a new client *class* for every client (its methods, docstrings and the operation
models they hold: a few hundred kB). A class refers to itself, so a dropped client's class is
freed only by a full garbage collection, which the operator runs rarely (it raises the
collector's thresholds, cli/operator.py): 5,000 Repositories read once each through their own
endpoints left hundreds of them behind. So the pool runs a full collection after every
``collect_every`` drops (by default as many as it holds): only a site with more distinct endpoints
and credentials than that, read in turn, pays for it.
"""

from __future__ import annotations

import collections
import functools
import gc
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import boto3
from botocore import UNSIGNED
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Addressing = Literal["path", "virtual"]
DEFAULT_MAX_CLIENTS = 64


@dataclass(frozen=True)
class ClientKey:
    """Everything a client is built from; equal keys share one client."""

    endpoint: str
    region: str
    addressing: Addressing
    access_key: str | None
    secret_key: str | None = field(repr=False)
    connect_timeout: float
    read_timeout: float
    attempts: int
    proxy: str | None = None


class ClientPool:
    def __init__(self, max_clients: int = DEFAULT_MAX_CLIENTS, collect_every: int | None = None) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self.max_clients = max_clients
        self.collect_every = collect_every or max_clients
        self._dropped = 0  # since the last collection
        self._session = boto3.session.Session()
        self._clients: collections.OrderedDict[ClientKey, S3Client] = collections.OrderedDict()
        self._guard = threading.Lock()
        self.built = 0  # clients built so far (a figure for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._clients)

    def client(self, key: ClientKey) -> S3Client:
        """The client for ``key``, built on first use; raises ValueError for a malformed endpoint."""
        with self._guard:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            config = Config(
                region_name=key.region,
                connect_timeout=key.connect_timeout,
                read_timeout=key.read_timeout,
                retries={"total_max_attempts": max(1, key.attempts), "mode": "standard"},
                s3={"addressing_style": key.addressing},
                proxies={"http": key.proxy, "https": key.proxy} if key.proxy else None,
                signature_version=UNSIGNED if key.access_key is None else None,
            )
            client: S3Client = self._session.client(
                "s3", endpoint_url=key.endpoint, aws_access_key_id=key.access_key,
                aws_secret_access_key=key.secret_key, config=config)
            self.built += 1
            self._clients[key] = client
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
                self._dropped += 1
            collect = self._dropped >= self.collect_every
            if collect:
                self._dropped = 0
        if collect:
            gc.collect()  # outside the lock: the other readers go on meanwhile
        return client


@functools.cache
def shared_pool() -> ClientPool:
    """The process's pool, for readers built without one."""
    return ClientPool()
