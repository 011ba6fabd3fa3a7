"""A Repository record written onto a stale version is refused, never applied (two replicas).

A replica that decided from an older Repository (its watch behind) must not overwrite what the
other replica recorded since: the write carries the version it was decided from, the API server
answers 409, the client forgets its stale copy and the caller decides again.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator

import kmock
import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.cached import CachingKubeClient
from cvmfs_operator.clients.errors import Conflict
from cvmfs_operator.clients.kube import make_api_client
from tests.support.cluster import load_example


@pytest.fixture
async def clients() -> AsyncIterator[tuple[CachingKubeClient, CachingKubeClient]]:
    async with ApiEmulator() as emulator, kmock.Server(emulator):
        yield (CachingKubeClient(make_api_client(str(emulator.url))),
               CachingKubeClient(make_api_client(str(emulator.url))))


async def test_a_record_decided_from_a_stale_repository_is_refused(
        clients: tuple[CachingKubeClient, CachingKubeClient]) -> None:
    fast, slow = clients
    body = copy.deepcopy(load_example("repository.yaml")[0])
    name = body["metadata"]["name"]
    await asyncio.to_thread(fast.custom.create_cluster_custom_object, "cvmfs.cern.ch", "v1alpha1",
                            "repositories", body)
    seen_by_slow = await asyncio.to_thread(slow.get_repository, name)  # cached from now on
    assert seen_by_slow is not None
    version = str(dict(seen_by_slow["metadata"])["resourceVersion"])

    newer = {"revision": 4, "reflogChecksum": "b" * 40, "reflogRevision": 4}
    await asyncio.to_thread(fast.patch_repository_status, name, newer, version)
    with pytest.raises(Conflict):  # the older record, decided before the newer one was written
        await asyncio.to_thread(slow.patch_repository_status, name,
                                {"revision": 3, "reflogChecksum": "a" * 40, "reflogRevision": 3}, version)
    written = await asyncio.to_thread(fast.get_repository, name)
    status: dict[str, object] = dict(written.get("status") or {}) if written else {}
    assert {k: status.get(k) for k in newer} == newer
    # The refused client looks again and sees the newer record (it decides afresh from it).
    again = await asyncio.to_thread(slow.get_repository, name)
    assert again is not None
    assert dict(again.get("status") or {}).get("revision") == 4
