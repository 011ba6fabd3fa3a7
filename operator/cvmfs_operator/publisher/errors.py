"""The publisher's failures, each classified once, where it happens, by the contract's classes."""

from __future__ import annotations

from cvmfs_operator.api.contract import ErrorClass, Step


class PublisherError(Exception):
    """A failure the result reports: its class (and so the exit code), the step and a message.

    The message is shown to users (result, Events): it must never contain secret values.
    """

    def __init__(self, error_class: ErrorClass, step: Step, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.step = step
        self.message = message


class Cancelled(BaseException):
    """SIGTERM arrived (deadline or pod deletion).

    A ``BaseException`` so that no ``except`` clause meant for ordinary failures swallows it.
    """
