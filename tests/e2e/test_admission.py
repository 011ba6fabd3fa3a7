"""What the API server itself refuses (schema, CEL): only a real kube-apiserver can show it.

kmock's emulator has no admission, so these tests skip there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients.kube import MERGE_PATCH
from tests.e2e.scenario import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

IMMUTABLE = "spec is immutable; create a new Transaction for a new change"
Mutation = Callable[[dict[str, Any]], None]
DESCRIPTION_CHARACTERS = "tag description may contain only"


@pytest.fixture
def admission(scenario: Scenario) -> Scenario:
    if scenario.config.against_emulator:
        pytest.skip("the emulator has no admission (schema and CEL are not enforced): "
                    "needs a real API server")
    return scenario


def _valid(scenario: Scenario, name: str = "valid") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Transaction",
        "metadata": {"name": name, "namespace": scenario.namespace},
        "spec": {"repository": scenario.fqrn("absent"), "path": "/releases",
                 "payload": {"remove": {"paths": ["old"]}}},
    }


async def test_spec_is_immutable_but_metadata_is_not(admission: Scenario) -> None:
    api = admission.api
    await admission.cluster.create_transaction(_valid(admission))
    args = (GROUP, VERSION, admission.namespace, TRANSACTION_PLURAL, "valid")

    refusal = await api.refusal(api.custom.patch_namespaced_custom_object, *args,
                                {"spec": {"path": "/elsewhere"}}, _content_type=MERGE_PATCH)

    assert refusal is not None
    assert refusal.status == 422
    assert IMMUTABLE in refusal.message
    accepted = await api.refusal(api.custom.patch_namespaced_custom_object, *args,
                                 {"metadata": {"labels": {"team": "e2e"}}}, _content_type=MERGE_PATCH)
    assert accepted is None
    stored = await admission.cluster.transaction(admission.namespace, "valid")
    assert stored is not None
    assert stored["spec"]["path"] == "/releases"
    assert stored["metadata"]["labels"] == {"team": "e2e"}


def _set(path: list[str], value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        node = body
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return mutate


REFUSED_TRANSACTIONS: list[tuple[str, Mutation, str]] = [
    ("dotdot-path", _set(["spec", "path"], "/releases/../etc"), 'path must not contain ".." segments'),
    ("relative-path", _set(["spec", "path"], "releases"), 'path must be absolute'),
    ("trailing-slash", _set(["spec", "path"], "/releases/"), 'path must not end with "/"'),
    ("two-payloads", _set(["spec", "payload", "script"], {"source": "true"}),
     "payload must set exactly one of tarball, stage, remove or script"),
    ("no-payload-kind", _set(["spec", "payload"], {}),
     "payload must set exactly one of tarball, stage, remove or script"),
    ("absolute-remove", _set(["spec", "payload", "remove", "paths"], ["/etc"]),
     'remove paths are relative to spec.path and must not start with "/"'),
    ("dotdot-remove", _set(["spec", "payload", "remove", "paths"], ["a/../b"]),
     'remove paths must not contain ".." segments'),
    ("reserved-tag", _set(["spec", "tag"], {"name": "trunk"}), "reserved by CernVM-FS"),
    ("zero-timeout", _set(["spec", "timeoutSeconds"], 0), "timeoutSeconds"),
    ("ftp-tarball", _set(["spec", "payload"], {"tarball": {"url": "ftp://example.org/a.tgz"}}),
     "url must be http(s)://host/... or s3://bucket/key"),
    # cvmfs_server runs the description through sh -c: refused here, never failed (or run) at publish.
    *[(f"description-{case}", _set(["spec", "tag"], {"description": text}), DESCRIPTION_CHARACTERS)
      for case, text in (("parentheses", "Release 1.2.0 (LTS), see notes"),
                         ("command", "notes; touch /tmp/x #"), ("substitution", "$(id)"),
                         ("backticks", "`id`"), ("quotes", "say \"hi\" it's"), ("newline", "a\nb"),
                         ("non-ascii", "Müller"))],
    ("description-option", _set(["spec", "tag"], {"description": "release -d"}),
     'no word of the tag description may start with "-"'),
    ("description-blank", _set(["spec", "tag"], {"description": "  "}),
     "tag description must contain a non-space character"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in REFUSED_TRANSACTIONS],
                         ids=[case for case, _, _ in REFUSED_TRANSACTIONS])
async def test_invalid_transaction_is_refused(admission: Scenario, mutate: Mutation, message: str) -> None:
    api = admission.api
    body = _valid(admission, "refused")
    mutate(body)

    refusal = await api.refusal(api.custom.create_namespaced_custom_object, GROUP, VERSION,
                                admission.namespace, TRANSACTION_PLURAL, body, dry_run="All")

    assert refusal is not None, "the API server accepted an invalid Transaction"
    assert refusal.status == 422
    assert message in refusal.message


async def test_the_valid_transaction_is_accepted(admission: Scenario) -> None:
    """The control for the table above: its base body passes admission."""
    api = admission.api
    refusal = await api.refusal(api.custom.create_namespaced_custom_object, GROUP, VERSION,
                                admission.namespace, TRANSACTION_PLURAL, _valid(admission), dry_run="All")
    assert refusal is None


async def test_a_plain_description_is_accepted(admission: Scenario) -> None:
    api = admission.api
    body = _valid(admission, "described")
    body["spec"]["tag"] = {"description": "Software release 1.2.0, see notes: a/b 100% +fix"}
    refusal = await api.refusal(api.custom.create_namespaced_custom_object, GROUP, VERSION,
                                admission.namespace, TRANSACTION_PLURAL, body, dry_run="All")
    assert refusal is None


async def test_repository_url_with_shell_syntax_is_refused(admission: Scenario) -> None:
    api = admission.api
    body = admission.example_repository()
    body["spec"]["stratum0"]["url"] = "http://s3.example.org/cvmfs/$(id)"

    refusal = await api.refusal(api.custom.create_cluster_custom_object, GROUP, VERSION, REPOSITORY_PLURAL,
                                body, dry_run="All")

    assert refusal is not None
    assert refusal.status == 422
    assert "cvmfs_server evaluates it with a shell" in refusal.message


async def test_repository_with_two_storage_backends_is_refused(admission: Scenario) -> None:
    api = admission.api
    body = admission.example_repository()
    body["spec"]["stratum0"]["gateway"] = {"url": "http://gateway.example.org:4929/api/v1",
                                           "keySecretRef": {"name": "gw"}}

    refusal = await api.refusal(api.custom.create_cluster_custom_object, GROUP, VERSION, REPOSITORY_PLURAL,
                                body, dry_run="All")

    assert refusal is not None
    assert refusal.status == 422
    assert "exactly one of stratum0.s3 or stratum0.gateway must be set" in refusal.message
