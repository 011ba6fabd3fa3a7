"""What a release manager's client (``kubectl cvmfs``) needs from the Kubernetes API.

Connecting the way kubectl does (KUBECONFIG, ``--kubeconfig``, ``--context``, the context's
namespace), Transactions (list, create, delete) and the publisher pod's log through the pods
``log`` subresource, streamed. Errors are the :mod:`errors` classes, with messages that say what
to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from cvmfs_operator.api.types import GROUP, TRANSACTION_PLURAL, VERSION, Transaction
from cvmfs_operator.clients.errors import ApiUnavailable, KubeError, NotFound
from cvmfs_operator.clients.kube import KubeClient, _translate

LOG_TIMEOUT = (5.0, 3600.0)  # a followed log may stay quiet for a long publish step


class ConfigError(KubeError):
    """No usable kubeconfig or context."""

    retryable = False


def connect(kubeconfig: str | None = None, context: str | None = None) -> tuple[KubeClient, str]:
    """A client for the kubeconfig's (current or given) context, and that context's namespace."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    configuration = kubernetes.client.Configuration()
    try:
        if path is None and context is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return KubeClient(kubernetes.client.ApiClient(configuration)), _incluster_namespace()
        files = path.split(os.pathsep)[0] if path else None  # kubectl merges; we read the first file
        kubernetes.config.load_kube_config(config_file=files, context=context,
                                           client_configuration=configuration, persist_config=False)
        contexts, current = kubernetes.config.list_kube_config_contexts(config_file=files)
    except (kubernetes.config.ConfigException, OSError) as error:
        where = path or "~/.kube/config"
        raise ConfigError(f"cannot use the kubeconfig {where}"
                          f"{f' with context {context!r}' if context else ''}: {error}. "
                          "Set KUBECONFIG or pass --kubeconfig/--context (see: kubectl config "
                          "get-contexts)") from None
    chosen = next((c for c in contexts if c.get("name") == context), current) if context else current
    namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "default")
    return KubeClient(kubernetes.client.ApiClient(configuration)), namespace


def _incluster_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def list_transactions(kube: KubeClient, namespace: str | None, selector: str = "") -> list[Transaction]:
    """Transactions in ``namespace`` (every namespace when None), matching a label selector."""
    kwargs: dict[str, Any] = {"label_selector": selector} if selector else {}
    if namespace is None:
        data = kube._call("list Transactions in all namespaces", kube.custom.list_cluster_custom_object,
                          GROUP, VERSION, TRANSACTION_PLURAL, **kwargs)
    else:
        data = kube._call(f"list Transactions in {namespace}", kube.custom.list_namespaced_custom_object,
                          GROUP, VERSION, namespace, TRANSACTION_PLURAL, **kwargs)
    items = cast(list[Transaction], data.get("items", []))
    return [t for t in items if _selected(t["metadata"].get("labels") or {}, selector)]


def _selected(labels: dict[str, str], selector: str) -> bool:
    """Equality selectors (``a=b,c!=d,e``) checked again on the client: not every API filters."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def create_transaction(kube: KubeClient, body: dict[str, Any]) -> Transaction:
    meta = body["metadata"]
    namespace = meta["namespace"]
    return cast(Transaction, kube._call(
        f"create Transaction {namespace}/{meta.get('name') or meta.get('generateName')}",
        kube.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, TRANSACTION_PLURAL, body))


def delete_transaction(kube: KubeClient, namespace: str, name: str) -> bool:
    """True when a deletion was requested, False when it was already gone."""
    found = kube._maybe(f"delete Transaction {namespace}/{name}",
                        kube.custom.delete_namespaced_custom_object,
                        GROUP, VERSION, namespace, TRANSACTION_PLURAL, name)
    return found is not None


def get_pod(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    return cast(dict[str, Any] | None, kube._maybe(f"get pod {namespace}/{name}",
                                                   kube.core.read_namespaced_pod, name, namespace))


def pod_log(kube: KubeClient, namespace: str, name: str, *, follow: bool,
            container: str = "publisher") -> Iterator[str]:
    """The pod's log, line by line, as the API server sends it (until the container ends when
    ``follow``). The caller may stop iterating at any time; the connection is then closed."""
    what = f"read the log of pod {namespace}/{name}"
    try:
        response = kube.core.read_namespaced_pod_log(name, namespace, container=container, follow=follow,
                                                     _preload_content=False, _request_timeout=LOG_TIMEOUT)
    except ApiException as exc:
        raise _translate(exc, what) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ApiUnavailable(f"{what}: {type(exc).__name__}") from None
    pending = b""
    try:
        for chunk in response.stream(4096, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ApiUnavailable(f"{what}: the stream broke ({type(exc).__name__})") from None
    finally:
        response.release_conn()


__all__ = ["ConfigError", "NotFound", "connect", "create_transaction", "delete_transaction", "get_pod",
           "list_transactions", "pod_log"]
