"""The commands other than ``publish``: status, list, logs, wait, cancel, history."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
from typing import Any

from cvmfs_operator import stratum0
from cvmfs_operator.api.types import Transaction
from cvmfs_operator.cli.kubectl_cvmfs import render
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit
from cvmfs_operator.cli.kubectl_cvmfs.follow import Console, Follower
from cvmfs_operator.clients import release
from cvmfs_operator.clients.errors import KubeError, NotFound
from cvmfs_operator.clients.kube import KubeClient

DEFAULT_OPERATOR_NAMESPACE = "cvmfs-release-operator"


class Failure(Exception):
    """Stop with this exit code; the message says what to do."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass
class Context:
    kube: KubeClient
    namespace: str
    operator_namespace: str
    console: Console
    args: argparse.Namespace


def operator_namespace(args: argparse.Namespace) -> str:
    return str(args.operator_namespace or os.environ.get("KUBECTL_CVMFS_OPERATOR_NAMESPACE")
               or DEFAULT_OPERATOR_NAMESPACE)


def get_transaction(ctx: Context, name: str) -> Transaction:
    txn = ctx.kube.get_transaction(ctx.namespace, name)
    if txn is None:
        raise Failure(Exit.NOT_FOUND, f'Transaction "{name}" not found in namespace {ctx.namespace} '
                                      "(kubectl cvmfs list -A shows every namespace)")
    return txn


def status(ctx: Context) -> Exit:
    txn = get_transaction(ctx, ctx.args.transaction)
    if ctx.args.output:
        ctx.console.line(render.dump(txn, ctx.args.output))
        return Exit.SUCCEEDED
    for line in render.summary(txn, ctx.console.colour):
        ctx.console.line(line)
    failure = (txn.get("status") or {}).get("lastFailure")
    if failure:
        ctx.console.line(f"  last failure  attempt {failure['attempt']}: {failure['reason']}: "
                         f"{failure['message']}")
    return Exit.SUCCEEDED


def listing(ctx: Context) -> Exit:
    namespace = None if ctx.args.all_namespaces else ctx.namespace
    items = release.list_transactions(ctx.kube, namespace, ctx.args.selector)
    if ctx.args.output in ("json", "yaml"):
        ctx.console.line(render.dump(render.as_list(items), ctx.args.output))
        return Exit.SUCCEEDED
    if not items:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        ctx.console.line(f"No Transactions found in {where}.")
        return Exit.SUCCEEDED
    now = datetime.datetime.now(datetime.UTC)
    headers, rows = render.transaction_rows(items, now, all_namespaces=namespace is None,
                                            wide=ctx.args.output == "wide")
    ctx.console.line(render.table(headers, rows))
    return Exit.SUCCEEDED


def logs(ctx: Context) -> Exit:
    txn = get_transaction(ctx, ctx.args.transaction)
    status: dict[str, Any] = dict(txn.get("status") or {})
    pod = status.get("podName")
    if pod:
        try:
            for line in release.pod_log(ctx.kube, ctx.operator_namespace, str(pod), follow=ctx.args.follow):
                ctx.console.line(line)
            return Exit.SUCCEEDED
        except NotFound:
            pass  # the pod is gone (removed after the publish): the status keeps the tail
        except KubeError as error:
            ctx.console.line(f"(cannot read the log of pod {ctx.operator_namespace}/{pod}: {error}; "
                             "showing the log tail recorded in the status)")
    tail = status.get("logTail") or []
    if not tail:
        raise Failure(Exit.NOT_FOUND, f"no log yet for Transaction {ctx.args.transaction} "
                                      f"(phase {status.get('phase', 'Pending')}); try again with -f "
                                      "once it is Running")
    for line in tail:
        ctx.console.line(str(line))
    return Exit.SUCCEEDED


def follow(ctx: Context, name: str) -> Exit:
    """Follow ``name`` live; Ctrl-C detaches (or cancels with --cancel-on-interrupt)."""
    follower = Follower(ctx.kube, ctx.namespace, name, ctx.console, ctx.operator_namespace,
                        logs=ctx.args.logs)
    try:
        code, txn = follower.run(timeout=ctx.args.timeout)
    except KeyboardInterrupt:
        if ctx.args.cancel_on_interrupt:
            release.delete_transaction(ctx.kube, ctx.namespace, name)
            ctx.console.line(f"\nInterrupted: cancelling Transaction {ctx.namespace}/{name} "
                             "(deleted; its publisher pod is stopped and aborts)")
            return Exit.CANCELLED
        ctx.console.line(f"\nDetached; Transaction {ctx.namespace}/{name} keeps going. Follow it again "
                         f"with: kubectl cvmfs wait {name} -n {ctx.namespace}")
        return Exit.DETACHED
    if code == Exit.TIMEOUT:
        ctx.console.line(f"Timed out after {ctx.args.timeout:g}s; Transaction {ctx.namespace}/{name} "
                         f"keeps going (kubectl cvmfs wait {name})")
    elif txn is not None:
        for line in render.summary(txn, ctx.console.colour):
            ctx.console.line(line)
    return code


def wait(ctx: Context) -> Exit:
    get_transaction(ctx, ctx.args.transaction)
    return follow(ctx, ctx.args.transaction)


def cancel(ctx: Context) -> Exit:
    txn = get_transaction(ctx, ctx.args.transaction)
    phase = (txn.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed", "Cancelled"):
        raise Failure(Exit.USAGE, f"Transaction {ctx.args.transaction} already finished ({phase}); "
                                  "nothing to cancel (a published revision is undone by a new publish)")
    release.delete_transaction(ctx.kube, ctx.namespace, ctx.args.transaction)
    ctx.console.line(f"Transaction {ctx.namespace}/{ctx.args.transaction} cancelled: deleted; the operator "
                     "stops its publisher pod, which aborts the open transaction")
    return Exit.SUCCEEDED


def history(ctx: Context) -> Exit:
    repo = ctx.kube.get_repository(ctx.args.repository)
    if repo is None:
        raise Failure(Exit.NOT_FOUND, f'Repository "{ctx.args.repository}" not found '
                                      "(kubectl get repositories.cvmfs.cern.ch lists them)")
    reader = stratum0.HttpReader(repo["spec"]["stratum0"]["url"], timeout=15.0)
    try:
        manifest = reader.manifest()
        tags = reader.tags(manifest)
    except stratum0.Stratum0Error as error:
        raise Failure(Exit.CLUSTER, f"cannot read {ctx.args.repository} from its Stratum 0: {error.message}"
                      ) from None
    if ctx.args.output:
        data = {"repository": ctx.args.repository, "revision": manifest.revision,
                "rootHash": manifest.root_hash,
                "tags": [dataclasses.asdict(t) for t in sorted(tags, key=lambda t: -t.revision)]}
        ctx.console.line(render.dump(data, ctx.args.output))
        return Exit.SUCCEEDED
    ctx.console.line(f"Repository {ctx.args.repository}: revision {manifest.revision} (* marks it)")
    headers, rows = render.history_rows(tags, manifest.revision)
    ctx.console.line(render.table(headers, rows))
    return Exit.SUCCEEDED
