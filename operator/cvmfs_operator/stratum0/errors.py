"""Errors of the Stratum 0 layer: every failure to read or understand the repository is one of these.

botocore and urllib exceptions are translated into these classes at the reader boundary
(``s3_reader``, ``http_reader``); the parsers raise :class:`CorruptObject`. Callers (the health
assessment, the operator) switch on the class, never on message text. Messages name the object and,
where it helps, the line or field; they never contain credentials.
"""

from __future__ import annotations

import traceback
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def as_value(error: E) -> E:
    """``error`` kept as a value (in an observation, a status): without its traceback. A traceback
    holds the frames that raised and caught it, whose locals (a reader, its S3 client) then stay
    alive in a reference cycle until a full garbage collection, which the operator runs rarely."""
    forget_frames(error)
    return error


def forget_frames(error: BaseException) -> None:
    """Clear the finished frames of ``error`` and of the errors it was raised from or during, and
    drop their tracebacks (botocore's and urllib3's exceptions refer to themselves through them)."""
    seen: set[int] = set()
    current: BaseException | None = error
    pending: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        current = pending.pop() if pending else None


class Stratum0Error(Exception):
    """Base class. ``object_name`` is the object concerned (``.cvmfspublished``, ``data/ab/…H``)."""

    def __init__(self, message: str, *, object_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.object_name = object_name


class ObjectMissing(Stratum0Error):
    """The object does not exist (S3 ``NoSuchKey``, HTTP 404)."""


class CorruptObject(Stratum0Error):
    """The object exists but is not what CernVM-FS writes (parse error, bad zlib, not SQLite…).

    ``line`` is the 1-based line of a text object the problem was found on, when there is one.
    """

    def __init__(self, message: str, *, object_name: str, line: int | None = None) -> None:
        where = f"{object_name} line {line}" if line is not None else object_name
        super().__init__(f"{where}: {message}", object_name=object_name)
        self.line = line


class AccessDenied(Stratum0Error):
    """The storage refused the credentials or the request (HTTP 401/403, ``InvalidAccessKeyId``,
    ``SignatureDoesNotMatch``, ``AccessDenied``)."""


class BucketMissing(Stratum0Error):
    """The S3 bucket does not exist (``NoSuchBucket``)."""


class Unreachable(Stratum0Error):
    """No answer from the endpoint: connection refused, DNS failure, timeout, connection reset."""


class StorageFailure(Stratum0Error):
    """The endpoint answered with an error that is none of the above (5xx, throttling, …)."""


class InvalidConfiguration(Stratum0Error):
    """The reader cannot be built from the given settings (bad endpoint URL, …)."""
