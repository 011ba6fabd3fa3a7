"""What a terminated operation pod means for its RepositoryOperation (pure), as
:mod:`reconcile.results` reads publisher pods: the :class:`OperationResult` it wrote at the
termination-message path, else what the kubelet reported."""

from __future__ import annotations

from cvmfs_operator.api.operation_contract import (
    OperationErrorClass,
    OperationResult,
    decode_operation_result,
)
from cvmfs_operator.reconcile.observed import PodView
from cvmfs_operator.reconcile.results import Outcome, PodKind, classify_pod

# Worth another attempt: the repository was not changed, or the check of the repository before
# the next attempt (reconcile.operation) finds that it was (a rollback or tag already done).
RETRYABLE = frozenset({
    OperationErrorClass.BUSY.value,
    OperationErrorClass.ATTACH_FAILED.value,
    OperationErrorClass.INTERNAL.value,
    "Evicted",
    "OperationCrashed",
    "OOMKilled",
    "NoResult",
    "InvalidResult",
    "PodLost",
})


OperationOutcome = Outcome[OperationResult]


def _done(pod: PodView, result: OperationResult) -> tuple[str, str]:
    return "Succeeded", result["message"] or f"{result['operation']} done"


OPERATION = PodKind[OperationResult](
    pod="operation pod", crashed="OperationCrashed", stopped="the operation was stopped", retryable=RETRYABLE,
    decode=decode_operation_result, succeeded=_done)


def classify(pod: PodView) -> OperationOutcome:
    return classify_pod(OPERATION, pod)
