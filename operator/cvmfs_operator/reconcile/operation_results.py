"""What a terminated operation pod means for its RepositoryOperation (pure), as
:mod:`reconcile.results` reads publisher pods: the :class:`OperationResult` it wrote at the
termination-message path, else what the kubelet reported."""

from __future__ import annotations

from dataclasses import dataclass

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import (
    OperationErrorClass,
    OperationResult,
    decode_operation_result,
)
from cvmfs_operator.reconcile.observed import PodView
from cvmfs_operator.reconcile.results import tail

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


@dataclass(frozen=True)
class OperationOutcome:
    succeeded: bool
    cancelled: bool
    reason: str
    message: str
    retryable: bool
    result: OperationResult | None
    log_tail: list[str]


def _failed(reason: str, message: str, log_tail: list[str] | None = None,
            result: OperationResult | None = None) -> OperationOutcome:
    return OperationOutcome(succeeded=False, cancelled=False, reason=reason, message=message,
                            retryable=reason in RETRYABLE, result=result, log_tail=tail(log_tail or []))


def classify(pod: PodView) -> OperationOutcome:
    if pod.reason == "DeadlineExceeded":
        return _failed("DeadlineExceeded", f"operation pod {pod.name} ran past spec.timeoutSeconds and "
                       "was stopped")
    if pod.reason == "Evicted":
        return _failed("Evicted", f"operation pod {pod.name} was evicted: {pod.message or 'no message'}")
    text = (pod.termination_message or "").strip()
    if text.startswith("{"):
        try:
            result = decode_operation_result(text)
        except ValueError as exc:
            return _failed("InvalidResult", f"operation pod {pod.name} wrote an unreadable result: {exc}",
                           text.splitlines())
        return _from_result(pod, result)
    lines = text.splitlines()
    if pod.container_reason == "OOMKilled":
        return _failed("OOMKilled", f"operation pod {pod.name} ran out of memory", lines)
    if pod.exit_code == 0 or pod.phase == "Succeeded":
        return _failed("NoResult", f"operation pod {pod.name} exited without writing a result", lines)
    code = "unknown" if pod.exit_code is None else str(pod.exit_code)
    return _failed("OperationCrashed",
                   f"operation pod {pod.name} failed with exit code {code} without a result", lines)


def _from_result(pod: PodView, result: OperationResult) -> OperationOutcome:
    logs = tail(list(result["logTail"]))
    if result["outcome"] == contract.Outcome.SUCCEEDED.value:
        return OperationOutcome(succeeded=True, cancelled=False, reason="Succeeded",
                                message=result["message"] or f"{result['operation']} done",
                                retryable=False, result=result, log_tail=logs)
    if result["outcome"] == contract.Outcome.CANCELLED.value:
        return OperationOutcome(succeeded=False, cancelled=True, reason="Cancelled",
                                message=result["message"] or "the operation was stopped",
                                retryable=False, result=result, log_tail=logs)
    reason = result["errorClass"] or OperationErrorClass.INTERNAL.value
    step = f" at step {result['step']}" if result["step"] else ""
    return _failed(reason, f"{reason}{step}: {result['message']}", logs, result)
