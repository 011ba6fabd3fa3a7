"""Errors of the Kubernetes boundary, independent of the client library that raised them."""

from __future__ import annotations


class KubeError(Exception):
    """A Kubernetes API call failed; the message names the call, never a secret."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the API server asked to wait (429 Retry-After)


class NotFound(KubeError):
    retryable = False


class AlreadyExists(KubeError):
    """409: the object exists (create) or a precondition failed (delete)."""

    retryable = False


class Conflict(AlreadyExists):
    """409 on a write with a resourceVersion precondition: the object changed since it was read.
    The caller's view has been refreshed; deciding again is the right answer."""

    retryable = True


class Forbidden(KubeError):
    """401/403: RBAC refuses the call; retrying helps only after the RBAC is fixed."""


class ApiUnavailable(KubeError):
    """5xx, timeouts, connection errors: worth retrying with a delay."""
