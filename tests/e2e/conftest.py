"""The e2e tier: the integration scenarios against a real cluster named by KUBECONFIG (opt-in).

Skipped unless ``--with-e2e``. The options below exist when tests/e2e (or a file in it) is named on
the command line, which makes this conftest an initial one; see docs/e2e.md for each of them.

Session: the API (KUBECONFIG, or kmock's emulator with ``--e2e-against-emulator``), the CRDs
(installed if absent, deleted at the end only if this session installed them), a unique operator
namespace ``cvmfs-e2e-<random>``, the operator (a local child process, or the deployed one), and the
simulated kubelet (``--simulate-kubelet``). Per test: a Scenario with its own release namespace.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, cast

import kmock
import pytest
import pytest_asyncio

from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.kube import make_api_client
from tests.e2e.harness import (
    PRIVILEGED,
    Api,
    E2eConfig,
    Janitor,
    Kubelet,
    LocalOperator,
    S3Store,
    ScopedKube,
)
from tests.e2e.rbac import ChartIdentity, assert_never_refused, render_rbac
from tests.e2e.scenario import RealRepositories, Scenario, Session, unique
from tests.support.cluster import Cluster
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, start_moto

REPOSITORY_FILE_ENV = "CVMFS_E2E_REPOSITORY_FILE"
S3_ENDPOINT_ENV = "CVMFS_E2E_S3_ENDPOINT"
S3_ACCESS_ENV = "CVMFS_E2E_S3_ACCESS_KEY_ID"
S3_SECRET_ENV = "CVMFS_E2E_S3_SECRET_ACCESS_KEY"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cvmfs-e2e", "cvmfs-release-operator e2e tests (tests/e2e, docs/e2e.md)")
    group.addoption("--e2e-operator", choices=("local", "deployed"), default="local",
                    help="local: run cvmfs-operator as a child process (default); deployed: it already "
                         "runs in the cluster (Helm), use --e2e-operator-namespace")
    group.addoption("--e2e-operator-namespace", default="cvmfs-release-operator",
                    help="the deployed operator's namespace (with --e2e-operator=deployed)")
    group.addoption("--e2e-repository-file", default=os.environ.get(REPOSITORY_FILE_ENV),
                    help="YAML with the Repository (and its Secrets) of a real, disposable repository; "
                         f"needed without --simulate-kubelet (default: ${REPOSITORY_FILE_ENV})")
    group.addoption("--e2e-publisher-image", default=None,
                    help="publisher image for the local operator (CVMFS_OPERATOR_PUBLISHER_IMAGE)")
    group.addoption("--e2e-s3-endpoint", default=os.environ.get(S3_ENDPOINT_ENV),
                    help="with --simulate-kubelet: S3 endpoint (reachable from the tests and the operator) "
                         f"for the simulated repositories; credentials from ${S3_ACCESS_ENV} and "
                         f"${S3_SECRET_ENV}. Default: a moto server on loopback (local operator only)")
    group.addoption("--e2e-operator-rbac", choices=("chart", "kubeconfig"), default=None,
                    help="local operator: chart = run it with a token of the chart's ServiceAccount, "
                         "its RBAC rendered by Helm and created for the session (default on a real "
                         "API server); kubeconfig = with KUBECONFIG's own user (the emulator's only way)")
    group.addoption("--e2e-against-emulator", action="store_true", default=False,
                    help="smoke-check the e2e tests on kmock's in-process emulator instead of KUBECONFIG")
    group.addoption("--e2e-timeout", type=float, default=None,
                    help="deadline in seconds of every wait (default: 60 emulator, 90 simulated "
                         "kubelet, 300 real kubelet)")


@pytest.fixture(scope="session")
def e2e_config(request: pytest.FixtureRequest) -> E2eConfig:
    option = request.config.getoption
    emulator = bool(option("--e2e-against-emulator", False))
    simulate = bool(option("--simulate-kubelet", False))
    operator = cast(Literal["local", "deployed"], option("--e2e-operator", "local"))
    if emulator and operator == "deployed":
        pytest.fail("--e2e-against-emulator runs the operator locally; drop --e2e-operator=deployed")
    if emulator and not simulate:
        pytest.fail("--e2e-against-emulator has no nodes: add --simulate-kubelet")
    repository_file = option("--e2e-repository-file", None)
    default_timeout = 60.0 if emulator else 90.0 if simulate else 300.0
    rbac = option("--e2e-operator-rbac", None) or ("kubeconfig" if emulator else "chart")
    if emulator and rbac == "chart":
        pytest.fail("--e2e-against-emulator has no RBAC: drop --e2e-operator-rbac=chart")
    timeout = option("--e2e-timeout", None) or default_timeout
    return E2eConfig(
        against_emulator=emulator,
        operator=operator,
        operator_namespace=option("--e2e-operator-namespace", None) if operator == "deployed" else None,
        simulate_kubelet=simulate,
        repository_file=Path(repository_file) if repository_file else None,
        s3_endpoint=option("--e2e-s3-endpoint", None),
        publisher_image=option("--e2e-publisher-image", None),
        operator_rbac=cast(Literal["chart", "kubeconfig"], rbac),
        timeout=float(timeout),
        cleanup_timeout=max(60.0, float(timeout)),
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_api(e2e_config: E2eConfig) -> AsyncIterator[tuple[Api, str | None]]:
    """The API client, and the emulator's URL when there is one (then it serves from this loop)."""
    if e2e_config.against_emulator:
        async with ApiEmulator() as emulator, kmock.Server(emulator):
            api_client = make_api_client(str(emulator.url))
            yield Api(api_client, emulated=True), str(emulator.url)
            api_client.close()
        return
    api_client = await asyncio.to_thread(make_api_client, None)  # KUBECONFIG (or in-cluster)
    yield Api(api_client), None
    api_client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_crds(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig) -> AsyncIterator[None]:
    api, _ = e2e_api
    if e2e_config.against_emulator:  # the emulator serves the resources without CRDs
        yield
        return
    created = await api.install_crds(timeout=e2e_config.timeout)
    yield
    await api.delete_crds(created, timeout=e2e_config.cleanup_timeout)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_janitor(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig,
                      e2e_crds: None) -> AsyncIterator[Janitor]:
    """Torn down after the operator has stopped: only then may finalizers be stripped."""
    janitor = Janitor(e2e_api[0], e2e_config)
    yield janitor
    remaining = await janitor.finish(operator_stopped=e2e_config.operator == "local")
    if remaining:
        print(f"e2e: namespaces left with stuck Transactions (the deployed operator runs): {remaining}")


@pytest.fixture(scope="session")
def e2e_prefix() -> str:
    return unique()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_operator_namespace(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig,
                                 e2e_janitor: Janitor, e2e_prefix: str) -> AsyncIterator[str]:
    api, _ = e2e_api
    if e2e_config.operator == "deployed":
        namespace = str(e2e_config.operator_namespace)
        if not await api.namespace_exists(namespace):
            pytest.fail(f"--e2e-operator=deployed: namespace {namespace} does not exist "
                        "(set --e2e-operator-namespace to where Helm installed the operator)")
        yield namespace
        return
    await api.create_namespace(e2e_prefix, {**PRIVILEGED, "app.kubernetes.io/part-of": "cvmfs-e2e"})
    yield e2e_prefix
    await api.delete_namespace(e2e_prefix, timeout=e2e_config.cleanup_timeout)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_real_repositories(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig,
                                e2e_operator_namespace: str) -> AsyncIterator[RealRepositories | None]:
    """Without --simulate-kubelet: the real repository's Secrets, created in the operator namespace."""
    if e2e_config.simulate_kubelet:
        yield None
        return
    if e2e_config.repository_file is None:  # tests that publish skip (Scenario.repository_body)
        yield None
        return
    real = RealRepositories.load(e2e_config.repository_file)
    api, _ = e2e_api
    created = [s["metadata"]["name"] for s in real.secrets
               if await api.create_secret(e2e_operator_namespace, s)]
    yield real
    for name in created:
        await api.delete_secret(e2e_operator_namespace, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_s3(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig,
                 e2e_operator_namespace: str) -> AsyncIterator[S3Store | None]:
    """With --simulate-kubelet: the S3 store of the simulated repositories, and its credentials
    Secret in the operator namespace (the operator reads each repository before and after a publish)."""
    if not e2e_config.simulate_kubelet:
        yield None
        return
    api, _ = e2e_api
    server = None
    if e2e_config.s3_endpoint:
        store = S3Store(e2e_config.s3_endpoint, os.environ.get(S3_ACCESS_ENV, ""),
                        os.environ.get(S3_SECRET_ENV, ""))
    elif e2e_config.operator == "local":  # the local operator reaches loopback
        server, endpoint = await asyncio.to_thread(start_moto)
        store = S3Store(endpoint.url, ACCESS_KEY, SECRET_KEY)
    else:  # tests that publish skip (Scenario.simulated_stratum0)
        yield None
        return
    created = await api.create_secret(e2e_operator_namespace, store.secret())
    try:
        yield store
    finally:
        if created:
            await api.delete_secret(e2e_operator_namespace, store.secret_name)
        if server is not None:
            await asyncio.to_thread(server.stop)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_operator_kubeconfig(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig,
                                  e2e_operator_namespace: str,
                                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path | None]:
    """With --e2e-operator-rbac=chart: a kubeconfig holding a token of the chart's ServiceAccount,
    whose Roles are created for this session (tests/e2e/rbac.py); None: KUBECONFIG as it is."""
    if e2e_config.operator == "deployed" or e2e_config.operator_rbac != "chart":
        yield None
        return
    identity = ChartIdentity(e2e_api[0].api_client, f"{e2e_operator_namespace}-op", e2e_operator_namespace,
                             render_rbac(f"{e2e_operator_namespace}-op", e2e_operator_namespace))
    await identity.create()
    try:
        yield await identity.kubeconfig(tmp_path_factory.mktemp("identity") / "kubeconfig")
    finally:
        await identity.delete()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_operator(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig, e2e_operator_namespace: str,
                       e2e_operator_kubeconfig: Path | None,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalOperator | None]:
    """The local operator (None when it is deployed in the cluster)."""
    if e2e_config.operator == "deployed":
        yield None
        return
    _, url = e2e_api
    env = {
        "CVMFS_OPERATOR_NAMESPACE": e2e_operator_namespace,
        "CVMFS_OPERATOR_RECONCILE_INTERVAL": "0.5" if e2e_config.against_emulator else "1",
        "CVMFS_OPERATOR_HEALTH_INTERVAL": "60",  # not under test here; keeps the API quiet
        "CVMFS_OPERATOR_METRICS_PORT": "0",
        "CVMFS_OPERATOR_LIVENESS_PORT": "0",
    }
    if url is not None:
        env["CVMFS_OPERATOR_API_SERVER"] = url
    if e2e_config.publisher_image:
        env["CVMFS_OPERATOR_PUBLISHER_IMAGE"] = e2e_config.publisher_image
    if e2e_operator_kubeconfig is not None:
        env["KUBECONFIG"] = str(e2e_operator_kubeconfig)
    process = LocalOperator(env, tmp_path_factory.mktemp("operator") / "operator.log")
    process.start()
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)  # the emulator may serve from this loop: never block it
    log = process.log()
    assert "Traceback" not in log, f"the operator crashed or logged a traceback:\n{log[-5000:]}"
    assert_never_refused(log)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def e2e_session(e2e_api: tuple[Api, str | None], e2e_config: E2eConfig, e2e_janitor: Janitor,
                      e2e_operator_namespace: str, e2e_operator: LocalOperator | None,
                      e2e_real_repositories: RealRepositories | None, e2e_s3: S3Store | None,
                      e2e_prefix: str) -> AsyncIterator[Session]:
    api, _ = e2e_api
    release_namespaces: set[str] = set()
    kubelet: Kubelet | None = None
    if e2e_config.simulate_kubelet:
        if e2e_config.real_api and (nodes := await api.schedulable_nodes()):
            pytest.fail(f"--simulate-kubelet needs publisher pods to stay unscheduled, but nodes {nodes} "
                        "are schedulable and their kubelet would run them too: cordon them "
                        "(kubectl cordon) or use a control-plane-only cluster (docs/e2e.md)")
        kubelet = Kubelet(ScopedKube(api.api_client, release_namespaces), e2e_operator_namespace, e2e_s3)
        kubelet.sim.start()
    session = Session(api=api, cluster=Cluster(api.kube, e2e_operator_namespace), config=e2e_config,
                      janitor=e2e_janitor, kubelet=kubelet, real_repositories=e2e_real_repositories,
                      s3=e2e_s3, prefix=e2e_prefix, release_namespaces=release_namespaces)
    try:
        yield session
    finally:
        if kubelet is not None:
            await asyncio.to_thread(kubelet.sim.stop)
            await api.release_simulated_pods(e2e_operator_namespace)


@pytest_asyncio.fixture(loop_scope="session")
async def scenario(e2e_session: Session, e2e_operator: LocalOperator | None) -> AsyncIterator[Scenario]:
    """A test's own release namespace (more with ``create_namespace``); everything it made is
    deleted afterwards, Transactions first while the operator still runs."""
    log_start = len(e2e_operator.log()) if e2e_operator is not None else 0
    overlaps_before = len(e2e_session.kubelet.overlaps) if e2e_session.kubelet else 0
    world = Scenario(e2e_session)
    await world.create_namespace()
    try:
        yield world
    finally:
        if e2e_operator is not None and not e2e_operator.running:  # a test stopped it and failed
            e2e_operator.start()
        try:
            await world.cleanup()
        finally:
            if e2e_operator is not None:
                print(f"--- operator log ---\n{e2e_operator.log()[log_start:][-20000:]}")
    if e2e_operator is not None:
        assert_never_refused(e2e_operator.log()[log_start:])
    if e2e_session.kubelet is not None:
        overlaps = e2e_session.kubelet.overlaps[overlaps_before:]
        assert not overlaps, f"two publisher pods of one repository at once: {overlaps}"
