"""API errors translated at the boundary: the Retry-After of a 429 is kept, bounded."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from cvmfs_operator.clients.errors import AlreadyExists, ApiUnavailable, NotFound
from cvmfs_operator.clients.kube import MAX_RETRY_AFTER, _translate
from cvmfs_operator.handlers.transactions import error_delay


def api_error(status: int, retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    exc.body = '{"message": "too many requests"}'
    return exc


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0", 0.0), ("9999", MAX_RETRY_AFTER),
                                                 ("soon", None), (None, None), ("-1", None)])
def test_a_429_keeps_its_retry_after(header: str | None, seconds: float | None) -> None:
    error = _translate(api_error(429, header), "patch status")
    assert isinstance(error, ApiUnavailable)
    assert error.retry_after == seconds
    assert str(error) == "patch status: HTTP 429 too many requests"


def test_other_statuses_keep_their_classes() -> None:
    assert isinstance(_translate(api_error(404), "get"), NotFound)
    assert isinstance(_translate(api_error(409), "create"), AlreadyExists)


def test_errors_in_a_row_back_off_to_five_seconds() -> None:
    assert [error_delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
