"""The shared S3 client pool: one client per endpoint, credentials and timeouts, a bounded number."""

from __future__ import annotations

import gc

from botocore.client import BaseClient

from cvmfs_operator.stratum0 import S3Reader, Timeouts
from cvmfs_operator.stratum0.s3_clients import ClientKey, ClientPool


def key(endpoint: str = "http://s3.example.org", access_key: str | None = "AK",
        secret: str = "SK") -> ClientKey:
    return ClientKey(endpoint=endpoint, region="us-east-1", addressing="path", access_key=access_key,
                     secret_key=secret, connect_timeout=1.0, read_timeout=2.0, attempts=1)


def test_equal_keys_share_one_client() -> None:
    pool = ClientPool()
    assert pool.client(key()) is pool.client(key())
    assert pool.built == 1


def test_other_credentials_or_endpoints_get_their_own_client() -> None:
    pool = ClientPool()
    clients = {id(pool.client(k)) for k in (key(), key(secret="rotated"), key(access_key=None),
                                            key(endpoint="http://other.example.org"))}
    assert len(clients) == 4


def test_the_least_recently_used_client_is_dropped_beyond_the_bound() -> None:
    pool = ClientPool(max_clients=2)
    first = pool.client(key("http://a"))
    pool.client(key("http://b"))
    assert pool.client(key("http://a")) is first  # a used again: b is now the oldest
    pool.client(key("http://c"))
    assert len(pool) == 2
    assert pool.client(key("http://a")) is first
    assert pool.built == 3
    pool.client(key("http://b"))  # dropped before: built again
    assert pool.built == 4


def test_readers_built_per_read_build_no_client() -> None:
    pool = ClientPool()
    spec = {"endpoint": "http://s3.example.org", "bucket": "b", "credentialsSecretRef": {"name": "s"}}
    for _ in range(10):
        S3Reader.from_spec("repo.example.org", spec, access_key="AK", secret_key="SK",  # type: ignore[arg-type]
                           timeouts=Timeouts(connect=1.0, read=2.0), clients=pool)
    assert pool.built == 1


def test_the_secret_key_is_not_in_the_key_repr() -> None:
    assert "SK" not in repr(key(secret="SK-very-secret"))


def _client_classes_alive() -> int:
    """botocore's per-client classes (``S3``), garbage or not."""
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, type) and issubclass(obj, BaseClient) and obj.__name__ == "S3")


def test_dropped_clients_classes_are_collected_every_so_many_drops() -> None:
    gc.collect()
    before = _client_classes_alive()
    gc.disable()  # as rarely as the operator's raised thresholds make it run
    try:
        pool = ClientPool(max_clients=4, collect_every=4)
        for i in range(40):
            pool.client(key(f"http://e{i}.example.org"))
        alive = _client_classes_alive() - before
        unbounded = ClientPool(max_clients=4, collect_every=10**6)
        for i in range(40):
            unbounded.client(key(f"http://f{i}.example.org"))
        without = _client_classes_alive() - before - alive
    finally:
        gc.enable()
    assert alive <= 4 + 4, alive  # the pool's, and the drops since the last collection
    assert without >= 40 - 4, without  # what a pool that never collects leaves behind
