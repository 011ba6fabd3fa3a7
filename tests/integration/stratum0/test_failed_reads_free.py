"""A failed read leaves nothing alive behind it. botocore's and urllib3's exceptions refer to
themselves through their tracebacks' frames, whose locals include the S3 client; kept as a value
(an observation's error) or simply dropped, such a cycle kept a client of a few hundred kB alive
until a full garbage collection, which the operator runs rarely (it raises the collector's
thresholds). 5,000 Repositories on endpoints that did not answer then held hundreds of clients."""

from __future__ import annotations

import gc

from botocore.client import BaseClient

from cvmfs_operator.stratum0 import S3Reader, Timeouts, Unreachable, observe
from cvmfs_operator.stratum0.s3_clients import ClientPool

POOL = 4


def _clients_alive() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, BaseClient) and type(obj).__name__ == "S3")


def test_failed_reads_keep_no_client_alive_without_the_garbage_collector(closed_port: int) -> None:
    pool = ClientPool(max_clients=POOL)
    gc.collect()
    before = _clients_alive()
    observations = []
    gc.disable()
    try:
        for i in range(2, 26):  # 24 endpoints (all loopback, nobody listening), each read once
            reader = S3Reader(endpoint=f"http://127.0.0.{i}:{closed_port}", bucket="b",
                              prefix="r.example.org", access_key="AK", secret_key="SK",
                              timeouts=Timeouts(connect=1, read=1, attempts=1), clients=pool)
            observations.append(observe(reader))  # kept, as the health loop keeps the last one
        assert all(isinstance(o.manifest, Unreachable) for o in observations), observations[0]
        alive = _clients_alive() - before
    finally:
        gc.enable()
    assert pool.built == 24
    assert alive <= POOL, f"{alive} S3 clients alive, the pool holds {POOL}"
