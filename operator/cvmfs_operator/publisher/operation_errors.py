"""The repository-operation program's failures, classified where they happen."""

from __future__ import annotations

from cvmfs_operator.api.operation_contract import OperationErrorClass, OperationStep
from cvmfs_operator.publisher.errors import PublisherError


class OperationError(Exception):
    """A failure the result reports: class (so the exit code), step and a message without secrets."""

    def __init__(self, error_class: OperationErrorClass, step: OperationStep, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.step = step
        self.message = message

    @classmethod
    def of(cls, error: PublisherError) -> OperationError:
        """A failure of the publisher's shared code (attach, mount): the same class and message."""
        step: OperationStep = "configure"
        if error.step in ("mount", "abort"):
            step = "mount" if error.step == "mount" else "abort"
        known = {c.value for c in OperationErrorClass}
        value = error.error_class.value if error.error_class.value in known else OperationErrorClass.INTERNAL
        return cls(OperationErrorClass(value), step, error.message)
