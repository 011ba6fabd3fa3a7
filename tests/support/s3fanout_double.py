"""TEST DOUBLE support: object uploads and deletions the way cvmfs's S3 fan-out manager sends them.

Behaviour read from cvmfs/network/s3fanout.{h,cc} (cvmfs/cvmfs):

- URL (``MkUrl``, ``MkCompleteHostname``): ``<protocol>://<bucket>.<host:port>/<key>`` with DNS
  buckets, else ``<protocol>://<host:port>/<bucket>/<key>``. A DNS-bucket name that does not
  resolve fails the upload, as it does for cvmfs.
- Signature by ``CVMFS_S3_FLAVOR``: ``awsv2`` (``MkV2Authz``: HMAC-SHA1 over method, Content-MD5,
  content type, date and, only when an ACL is set, the ACL header and ``/<bucket>/<key>``) or
  ``awsv4`` (``MkV4Authz``: host, x-amz-acl when set, x-amz-content-sha256, x-amz-date signed;
  the host carries its port unless it is 80 or 443). ``azure`` is not doubled.
- Content type (``GetContentType``): ``application/x-cvmfs`` for the dot-files a repository keeps
  at its root, ``application/octet-stream`` for content-addressed objects, none for DELETE.

Which flavor is chosen (upload_s3.cc) is the Uploader's business (cvmfs_storage_double). Against
moto prefer V4 (a region): moto's server guesses the service of a V2-signed request from the
Authorization header split at "/", and a base64 signature may contain "/" (then it answers 500).

Plain ``http.client`` on one kept-alive connection: the doubles run as short processes, dozens per
test, and boto3 costs about 0.4 s of CPU per process to import, build and tear down.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import urllib.parse
from dataclasses import dataclass

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class UploadError(Exception):
    """An upload or deletion the storage refused or could not be reached for."""


@dataclass(frozen=True)
class S3Target:
    host: str  # CVMFS_S3_HOST
    port: int | None  # CVMFS_S3_PORT
    https: bool
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    dns_buckets: bool = True
    acl: str = "public-read"
    flavor: str = "awsv2"

    def hostname_port(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else self.host

    def complete_hostname(self) -> str:
        return f"{self.bucket}.{self.hostname_port()}" if self.dns_buckets else self.hostname_port()

    def path(self, key: str) -> str:
        return f"/{key}" if self.dns_buckets else f"/{self.bucket}/{key}"


def content_type(key: str) -> str:
    dot_file = key.rsplit("/", 1)[-1].startswith(".cvmfs")
    return "application/x-cvmfs" if dot_file else "application/octet-stream"


class Fanout:
    """PUT and DELETE against one S3 target."""

    def __init__(self, target: S3Target, timeout: float = 10.0) -> None:
        if target.flavor not in ("awsv2", "awsv4"):
            raise UploadError(f"the cvmfs S3 double does not speak the {target.flavor!r} flavor")
        self.target = target
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def put(self, key: str, body: bytes) -> None:
        self._send("PUT", key, body, content_type(key))

    def delete(self, key: str) -> None:
        self._send("DELETE", key, b"", "")

    def _send(self, method: str, key: str, body: bytes, ctype: str) -> None:
        path = urllib.parse.quote(self.target.path(key), safe="/~")
        headers = self._sign(method, key, path, body, ctype)
        for attempt in (1, 2):  # once more on a kept-alive connection the server had closed
            connection = self._connect()
            try:
                connection.request(method, path, body=body if method == "PUT" else None, headers=headers)
                response = connection.getresponse()
                detail = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._close()
                if attempt == 2:
                    raise UploadError(f"{method} {key}: {exc}") from None
                continue
            except OSError as exc:
                self._close()
                raise UploadError(f"{method} {key}: {exc}") from None
            if response.status >= 300:
                raise UploadError(f"{method} {key}: HTTP {response.status} {detail[:200]!r}")
            return

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.target.https else http.client.HTTPConnection
            self._connection = kind(self.target.complete_hostname(), timeout=self.timeout)
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _sign(self, method: str, key: str, path: str, body: bytes, ctype: str) -> dict[str, str]:
        now = datetime.datetime.now(datetime.UTC)
        t = self.target
        headers: dict[str, str] = {"Content-Length": str(len(body))} if method == "PUT" else {}
        if ctype:
            headers["Content-Type"] = ctype
        if t.acl:  # curl drops a header sent without a value: cvmfs's empty "X-Amz-Acl: " is never sent
            headers["X-Amz-Acl"] = t.acl
        if t.flavor == "awsv2":
            date = now.strftime("%a, %d %b %Y %H:%M:%S GMT")
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode() if method == "PUT" else ""
            to_sign = f"{method}\n{md5}\n{ctype}\n{date}\n"
            if t.acl:
                to_sign += f"x-amz-acl:{t.acl}\n/{t.bucket}/{key}"
            digest = hmac.new(t.secret_key.encode(), to_sign.encode(), hashlib.sha1).digest()
            encoded = base64.b64encode(digest).decode()
            headers.update({"Authorization": f"AWS {t.access_key}:{encoded}", "Date": date})
            if md5:
                headers["Content-MD5"] = md5
            return headers
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        payload = hashlib.sha256(body).hexdigest() if method == "PUT" else EMPTY_SHA256
        host = t.complete_hostname()
        name, _, port = host.partition(":")
        canonical_host = host if port and port not in ("80", "443") else name
        signed = ("content-type;" if ctype else "") + ("host;x-amz-acl;" if t.acl else "host;") \
            + "x-amz-content-sha256;x-amz-date"
        canonical_headers = (f"content-type:{ctype}\n" if ctype else "") + f"host:{canonical_host}\n" \
            + (f"x-amz-acl:{t.acl}\n" if t.acl else "") \
            + f"x-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n"
        request = f"{method}\n{path}\n\n{canonical_headers}\n{signed}\n{payload}"
        scope = f"{day}/{t.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
        signing = f"AWS4{t.secret_key}".encode()
        for part in (day, t.region, "s3", "aws4_request"):
            signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        headers.update({"X-Amz-Content-Sha256": payload, "X-Amz-Date": stamp,
                        "Authorization": f"AWS4-HMAC-SHA256 Credential={t.access_key}/{scope},"
                                         f"SignedHeaders={signed},Signature={signature}"})
        return headers
