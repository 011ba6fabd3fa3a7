"""Secrets read at most once per max age, again at once when forgotten, a bounded number kept."""

from __future__ import annotations

from typing import Any, cast

from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.handlers.secrets import SecretCache


class FakeKube:
    def __init__(self) -> None:
        self.reads: list[str] = []

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        self.reads.append(name)
        return {"key": f"{name}-{len(self.reads)}"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(**kwargs: Any) -> tuple[SecretCache, FakeKube, Clock, KubeClient]:
    clock, fake = Clock(), FakeKube()
    return SecretCache(clock=clock, **kwargs), fake, clock, cast(KubeClient, fake)


def test_a_secret_is_read_once_per_max_age() -> None:
    cache, fake, clock, kube = setup(max_age=600.0)
    assert cache.read(kube, "ns", "s3") == {"key": "s3-1"}
    clock.now = 599.0
    assert cache.read(kube, "ns", "s3") == {"key": "s3-1"}
    clock.now = 600.0
    assert cache.read(kube, "ns", "s3") == {"key": "s3-2"}
    assert fake.reads == ["s3", "s3"]


def test_forget_makes_the_next_read_fresh() -> None:
    cache, _, _, kube = setup()
    cache.read(kube, "ns", "s3")
    cache.forget("ns", "s3")
    assert cache.read(kube, "ns", "s3") == {"key": "s3-2"}


def test_the_number_of_secrets_kept_is_bounded() -> None:
    cache, fake, _, kube = setup(max_entries=2)
    for name in ("a", "b", "a", "c"):
        cache.read(kube, "ns", name)
    assert fake.reads == ["a", "b", "c"]
    cache.read(kube, "ns", "a")  # kept: used more recently than b
    cache.read(kube, "ns", "b")  # dropped
    assert fake.reads == ["a", "b", "c", "b"]
