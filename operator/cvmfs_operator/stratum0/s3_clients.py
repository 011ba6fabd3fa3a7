"""boto3 S3 clients shared by every reader: one per endpoint, credentials and timeouts, a bounded number.

A client built from a fresh boto3 Session costs about 150 ms of CPU and 10 MB (the Session loads
and keeps its own copy of the S3 service model); from one shared Session it costs a few ms and
little memory, and a client is safe to use from many threads. Readers are built per Repository
and per read, so the clients live here instead: one :class:`ClientPool` per process, least
recently used clients dropped beyond ``max_clients`` (a Repository's next read builds its client
again). A Session is not thread-safe, so clients are built under a lock.
"""

from __future__ import annotations

import collections
import functools
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
    def __init__(self, max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self.max_clients = max_clients
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
            return client


@functools.cache
def shared_pool() -> ClientPool:
    """The process's pool, for readers built without one."""
    return ClientPool()
