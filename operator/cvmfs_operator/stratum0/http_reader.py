"""Read a repository over plain HTTP(S) from its Stratum 0 URL (``CVMFS_STRATUM0``, CVMFS.md §4.6).

This is how clients and Stratum 1s see the repository, so it needs no credentials. Requests send
``Cache-Control: max-age=0`` so that a caching proxy does not hand back a stale manifest. Errors
are translated into :mod:`errors` classes; an S3 error document in a 403/404 body (``NoSuchBucket``)
is recognised so a missing bucket is reported as such.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request

from cvmfs_operator.stratum0.errors import (
    AccessDenied,
    BucketMissing,
    InvalidConfiguration,
    ObjectMissing,
    StorageFailure,
    Stratum0Error,
    Unreachable,
)
from cvmfs_operator.stratum0.reader import ObjectReader

_S3_ERROR_CODE = re.compile(rb"<Code>\s*([A-Za-z0-9]+)\s*</Code>")
_ERROR_BODY_LIMIT = 4096


class HttpReader(ObjectReader):
    """A :class:`~cvmfs_operator.stratum0.reader.Stratum0Reader` over HTTP(S) GETs."""

    def __init__(self, url: str, *, timeout: float = 5.0, max_bytes: int = 256 * 1024 * 1024) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise InvalidConfiguration(f"Stratum 0 URL must be http(s)://host/…, got {_redact(url)!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"HttpReader(url={_redact(self.url)!r})"

    def object_url(self, name: str) -> str:
        return f"{self.url}/{urllib.parse.quote(name)}"

    def get_object(self, name: str) -> bytes:
        url = self.object_url(name)
        request = urllib.request.Request(url, headers={"Cache-Control": "max-age=0",
                                                       "User-Agent": "cvmfs-release-operator"})
        shown = _redact(url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as error:
            raise _http_error(error, name, shown) from None
        except urllib.error.URLError as error:
            raise Unreachable(f"GET {shown} failed: {error.reason}", object_name=name) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise Unreachable(f"GET {shown} failed: {type(error).__name__}: {error}",
                              object_name=name) from None
        if len(body) > self.max_bytes:
            raise StorageFailure(f"GET {shown}: object larger than {self.max_bytes} bytes",
                                 object_name=name)
        return body


def _http_error(error: urllib.error.HTTPError, name: str, shown: str) -> Stratum0Error:
    try:
        head = error.read(_ERROR_BODY_LIMIT)
    except (OSError, http.client.HTTPException):
        head = b""
    finally:
        error.close()
    match = _S3_ERROR_CODE.search(head)
    code = match.group(1).decode() if match else ""
    label = f"HTTP {error.code}" + (f" {code}" if code else "")
    if code == "NoSuchBucket":
        return BucketMissing(f"GET {shown}: {label} (the bucket does not exist)", object_name=name)
    if error.code in (404, 410):
        return ObjectMissing(f"GET {shown}: {label}", object_name=name)
    if error.code in (401, 403):
        return AccessDenied(f"GET {shown}: {label} (is the bucket publicly readable?)", object_name=name)
    return StorageFailure(f"GET {shown}: {label}", object_name=name)


def _redact(url: str) -> str:
    """The URL without user:password@ and without a query string (may hold signed tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
