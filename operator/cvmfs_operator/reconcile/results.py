"""Failure classification: what a terminated publisher pod means for its Transaction."""

from __future__ import annotations

from dataclasses import dataclass

from cvmfs_operator.api import contract
from cvmfs_operator.reconcile.observed import PodView

LOG_TAIL_LINES = 40

# Failures worth another attempt: the repository was not touched, or the exactly-once check
# (tag lookup in the repository) decides before a retry publishes anything.
RETRYABLE = frozenset({
    contract.ErrorClass.BUSY.value,
    contract.ErrorClass.ATTACH_FAILED.value,
    contract.ErrorClass.PAYLOAD_FETCH_FAILED.value,
    contract.ErrorClass.INTERNAL.value,
    "Evicted",
    "PublisherCrashed",
    "OOMKilled",
    "NoResult",
    "InvalidResult",  # e.g. published but could not read the new manifest: the tag check decides
    "PodLost",
})


@dataclass(frozen=True)
class AttemptOutcome:
    succeeded: bool
    cancelled: bool
    reason: str
    message: str
    retryable: bool
    result: contract.PublisherResult | None
    log_tail: list[str]


def tail(lines: list[str], limit: int = LOG_TAIL_LINES) -> list[str]:
    return [line[:500] for line in lines[-limit:]]


def _failed(reason: str, message: str, log_tail: list[str] | None = None,
            result: contract.PublisherResult | None = None) -> AttemptOutcome:
    return AttemptOutcome(succeeded=False, cancelled=False, reason=reason, message=message,
                          retryable=reason in RETRYABLE, result=result, log_tail=tail(log_tail or []))


def classify(pod: PodView) -> AttemptOutcome:
    """Read a terminated pod: its JSON result if it wrote one, else what the kubelet reported."""
    if pod.reason == "DeadlineExceeded":
        return _failed("DeadlineExceeded",
                       f"publisher pod {pod.name} ran past spec.timeoutSeconds and was stopped")
    if pod.reason == "Evicted":
        return _failed("Evicted", f"publisher pod {pod.name} was evicted: {pod.message or 'no message'}")
    if pod.stage_exit_code not in (None, 0):
        return _failed("StageFailed", f"the stage container of pod {pod.name} failed with exit code "
                       f"{pod.stage_exit_code}; nothing was published",
                       (pod.stage_message or "").splitlines())
    text = (pod.termination_message or "").strip()
    if text.startswith("{"):
        try:
            result = contract.decode_result(text)
        except ValueError as exc:
            return _failed("InvalidResult", f"publisher pod {pod.name} wrote an unreadable result: {exc}",
                           text.splitlines())
        return _from_result(pod, result)
    lines = text.splitlines()
    if pod.container_reason == "OOMKilled":
        return _failed("OOMKilled", f"publisher pod {pod.name} ran out of memory", lines)
    if pod.exit_code == 0 or pod.phase == "Succeeded":
        return _failed("NoResult", f"publisher pod {pod.name} exited without writing a result", lines)
    code = "unknown" if pod.exit_code is None else str(pod.exit_code)
    return _failed("PublisherCrashed",
                   f"publisher pod {pod.name} failed with exit code {code} without a result", lines)


def _from_result(pod: PodView, result: contract.PublisherResult) -> AttemptOutcome:
    logs = tail(list(result["logTail"]))
    if result["outcome"] == contract.Outcome.SUCCEEDED.value:
        if result["revisionAfter"] is None or not result["tag"]:
            return _failed("InvalidResult",
                           f"publisher pod {pod.name} reported success without a revision and tag",
                           logs, result)
        return AttemptOutcome(succeeded=True, cancelled=False, reason="Published",
                              message=f"published revision {result['revisionAfter']} as tag {result['tag']}",
                              retryable=False, result=result, log_tail=logs)
    if result["outcome"] == contract.Outcome.CANCELLED.value:
        return AttemptOutcome(succeeded=False, cancelled=True, reason="Cancelled",
                              message=result["message"] or "the publisher was stopped",
                              retryable=False, result=result, log_tail=logs)
    reason = result["errorClass"] or contract.ErrorClass.INTERNAL.value
    step = f" at step {result['step']}" if result["step"] else ""
    return _failed(reason, f"{reason}{step}: {result['message']}", logs, result)
