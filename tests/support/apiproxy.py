"""A real HTTP proxy on loopback between the operator and a Kubernetes API server.

It forwards every request (watch streams included, line by line as they arrive) to the upstream
API server and records each one the way the API server's authorizer sees it: verb, API group,
resource, subresource, namespace, name. From that record come per-verb/per-resource counters, a
timestamped log, and the set of (verb, group, resource, namespace) the RBAC test checks against the
chart.

Faults are injected here, at the HTTP boundary, never by patching Python: a seeded fraction of
requests is answered 500, 429 (with ``Retry-After``) or 409 instead of being forwarded, and watch
streams are cut after a random number of seconds (the connection is dropped between two events,
as a restarting API server or a load balancer would).

Point the operator at :attr:`ApiProxy.url` through ``CVMFS_OPERATOR_API_SERVER``. For a real
cluster, :func:`upstream_from_kubeconfig` gives the proxy the kubeconfig's server, CA and
credentials (like ``kubectl proxy``); the operator then talks plain HTTP to loopback.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

# Sub-paths of a namespace that are subresources of the Namespace itself, not namespaced resources.
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length"}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class RequestInfo:
    """What the authorizer sees (k8s.io/apiserver RequestInfoFactory), without the user."""

    verb: str
    group: str = ""  # "" is the core group
    resource: str = ""  # "" for non-resource URLs (/api, /apis, /version, discovery)
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    @property
    def full_resource(self) -> str:
        """``transactions/status`` style, as RBAC rules name subresources."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def watch(self) -> bool:
        return self.verb == "watch"


def request_info(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    """Derive the Kubernetes verb and resource of one HTTP request, as the API server does."""
    parts = [p for p in path.split("/") if p]
    method = method.upper()
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        rest = []
    if not rest:  # /api, /apis, /apis/<group>, /api/v1, /apis/<group>/<version>, /version, ...
        return RequestInfo(verb=method.lower(), path=path)
    watch_path = rest[0] == "watch"  # the deprecated /api/v1/watch/... form
    if watch_path:
        rest = rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces":  # /api/v1/namespaces/<name>[/status]: the namespace is the object
        namespace = ""
    if method in ("GET", "HEAD"):
        verb = "get" if name else "list"
        if watch_path or query.get("watch", "").lower() in ("true", "1"):
            verb = "watch"
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(verb=verb, group=group, resource=resource, subresource=subresource,
                       namespace=namespace, name=name, path=path)


@dataclass(frozen=True)
class Record:
    """One request as the proxy saw it."""

    started: float  # time.time() when it arrived
    info: RequestInfo
    status: int  # HTTP status returned to the operator (0: the upstream was unreachable)
    fault: str = ""  # "500", "429", "409" when injected, "cut" when a watch was cut
    duration: float = 0.0  # seconds until the response (headers, for streams) was sent
    body: bytes = b""  # the request body of writes (for pod creations: which pod)


@dataclass
class Faults:
    """What to inject; ``rate`` is the fraction of requests answered with an error.

    409 is only answered to updates and patches (a Conflict, as optimistic concurrency gives): a
    409 on create would claim that an object exists when it does not, which no API server does.
    Watch streams are cut after ``cut_after`` seconds (uniform in the range), at an event boundary.
    """

    rate: float = 0.0
    statuses: tuple[int, ...] = (500, 429, 409)
    retry_after: int = 1
    cut_after: tuple[float, float] | None = None
    seed: int = 0
    conflict_verbs: frozenset[str] = frozenset({"update", "patch"})
    spare_paths: tuple[str, ...] = ()  # path prefixes never faulted
    # Watches of these resources (e.g. "leases") stay open but deliver no event: a watch cache
    # that has stalled. Lists still answer; the operator's own writes are all it sees.
    stalled_watches: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def choose(self, info: RequestInfo) -> int | None:
        """The status to inject instead of forwarding, or None."""
        if self.rate <= 0 or any(info.path.startswith(p) for p in self.spare_paths):
            return None
        if self._random.random() >= self.rate:
            return None
        choices = [s for s in self.statuses if s != 409 or info.verb in self.conflict_verbs]
        return self._random.choice(choices) if choices else None

    def cut_delay(self) -> float | None:
        if self.cut_after is None:
            return None
        low, high = self.cut_after
        return self._random.uniform(low, high)


@dataclass
class Upstream:
    """Where requests go: a URL plus, for a real cluster, TLS and credentials."""

    url: str
    ssl_context: ssl.SSLContext | bool | None = None
    headers: dict[str, str] = field(default_factory=dict)


def upstream_from_kubeconfig(path: str | None = None, context: str | None = None) -> Upstream:
    """The kubeconfig's API server with its CA, client certificate or token (like ``kubectl proxy``)."""
    import kubernetes  # only here: the emulator path needs no kubernetes configuration

    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=path, context=context, client_configuration=config)
    ctx: ssl.SSLContext | bool | None = None
    if config.host.startswith("https"):
        if config.verify_ssl:
            sslctx = ssl.create_default_context(cafile=config.ssl_ca_cert)
        else:
            sslctx = ssl.create_default_context()
            sslctx.check_hostname = False
            sslctx.verify_mode = ssl.CERT_NONE
        if config.cert_file:
            sslctx.load_cert_chain(config.cert_file, config.key_file)
        ctx = sslctx
    headers = {}
    token = config.api_key.get("authorization") or config.api_key.get("BearerToken")
    if token:
        headers["Authorization"] = token if token.startswith("Bearer ") else f"Bearer {token}"
    return Upstream(url=config.host.rstrip("/"), ssl_context=ctx, headers=headers)


class ApiProxy:
    """``async with ApiProxy(upstream) as proxy:`` serves on ``proxy.url`` until the block ends."""

    def __init__(self, upstream: Upstream | str, faults: Faults | None = None,
                 impersonate: str | None = None) -> None:
        self.upstream = upstream if isinstance(upstream, Upstream) else Upstream(str(upstream).rstrip("/"))
        self.faults = faults or Faults()
        self.impersonate = impersonate  # e.g. system:serviceaccount:<ns>:<name> on a real cluster
        self.records: list[Record] = []  # one per request, appended when its response starts
        # Called with each record as it is appended, before the response goes back (e.g. to kill
        # the operator right after the API server accepted a given write: tests/support/killer.py).
        self.listeners: list[Callable[[Record], None]] = []
        self.cuts: list[Record] = []  # watch streams cut (when they were cut)
        self.open_watches = 0
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0
        self._streams: set[web.StreamResponse] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> ApiProxy:
        connector = aiohttp.TCPConnector(limit=0, ssl=self.upstream.ssl_context
                                         if self.upstream.ssl_context is not None else True)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        server = web.Server(self._handle)
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # The upstream side first: streams still open (watches) then end, so their handlers
        # finish before the server stops, instead of being left pending when the loop closes.
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # What was recorded

    def since(self, moment: float) -> list[Record]:
        return [r for r in self.records if r.started >= moment]

    @staticmethod
    def counts(records: Iterable[Record]) -> collections.Counter[tuple[str, str]]:
        """Requests by (verb, resource); resources as ``group/resource[/subresource]``."""
        return collections.Counter((r.info.verb, resource_label(r.info)) for r in records)

    def permissions(self) -> set[tuple[str, str, str, str]]:
        """(verb, group, resource[/subresource], namespace) of every resource request."""
        return {(r.info.verb, r.info.group, r.info.full_resource, r.info.namespace)
                for r in self.records if r.info.is_resource}

    # Serving

    def _record(self, record: Record) -> None:
        self.records.append(record)
        for listener in list(self.listeners):
            listener(record)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.time()
        info = request_info(request.method, request.path, dict(request.query))
        status = self.faults.choose(info)
        if status is not None:
            self._record(Record(started, info, status, fault=str(status)))
            return _fault_response(status, info, self.faults.retry_after)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.update(self.upstream.headers)
        if self.impersonate:
            headers["Impersonate-User"] = self.impersonate
        assert self._session is not None
        url = self.upstream.url + request.rel_url.path_qs
        try:
            upstream = await self._session.request(request.method, url, headers=headers, data=body or None)
        except (aiohttp.ClientError, OSError) as exc:
            self._record(Record(started, info, 0, duration=time.time() - started))
            return web.Response(status=502, text=f"proxy: upstream unreachable: {type(exc).__name__}")
        keep = body if info.verb in WRITE_VERBS else b""
        async with upstream:
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            # Only watches and followed logs are streams. A real API server also sends ordinary
            # responses chunked (no Content-Length); those are read whole, so that their record
            # keeps the request body and the full duration.
            streamed = info.watch or request.query.get("follow") in ("true", "1")
            if not streamed:
                payload = await upstream.read()
                self._record(Record(started, info, upstream.status, duration=time.time() - started,
                                    body=keep))
                return web.Response(status=upstream.status, headers=out_headers, body=payload)
            return await self._stream(request, upstream, out_headers, started, info)

    async def _stream(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse,
                      headers: dict[str, str], started: float, info: RequestInfo) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        delay = self.faults.cut_delay() if info.watch else None  # a followed log is never cut
        cut_at = None if delay is None else time.monotonic() + delay
        fault = ""
        self._record(Record(started, info, upstream.status, duration=time.time() - started))
        self.open_watches += info.watch
        try:
            while True:
                timeout = None if cut_at is None else max(0.0, cut_at - time.monotonic())
                try:
                    line = await asyncio.wait_for(upstream.content.readline(), timeout)
                except TimeoutError:
                    fault = "cut"
                    break
                if not line:
                    break
                if info.resource in self.faults.stalled_watches:
                    continue
                await response.write(line)
        except (aiohttp.ClientError, ConnectionError):
            pass  # either side went away: the stream ends as it would on a real server
        finally:
            self.open_watches -= info.watch
        if fault:
            self.cuts.append(Record(time.time(), info, upstream.status, fault=fault,
                                    duration=time.time() - started))
        if fault and request.transport is not None:
            request.transport.abort()  # dropped mid-stream: no terminating chunk, as a lost connection
            return response
        with contextlib.suppress(ConnectionError):  # the client went away first
            await response.write_eof()
        return response


def resource_label(info: RequestInfo) -> str:
    if not info.is_resource:
        return f"({info.path})"
    return f"{info.group}/{info.full_resource}" if info.group else info.full_resource


def _fault_response(status: int, info: RequestInfo, retry_after: int) -> web.Response:
    reason = {500: "InternalError", 429: "TooManyRequests", 409: "Conflict"}.get(status, "InternalError")
    message = {
        500: "injected: an error on the server",
        429: "injected: too many requests, please try again later",
        409: f"injected: Operation cannot be fulfilled on {info.full_resource} \"{info.name}\": "
             "the object has been modified; please apply your changes to the latest version and try again",
    }.get(status, "injected")
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": status}
    if info.resource:
        body["details"] = {"name": info.name, "group": info.group, "kind": info.resource}
    headers = {"Retry-After": str(retry_after)} if status == 429 else {}
    return web.Response(status=status, headers=headers, text=json.dumps(body),
                        content_type="application/json")
