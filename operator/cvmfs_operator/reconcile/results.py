"""What a terminated pod means for its object: the result it wrote at the termination-message
path, else what the kubelet reported. One reading for publisher pods (here, :data:`PUBLISHER`) and
operation pods (:mod:`reconcile.operation_results`), each a :class:`PodKind`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import OperationResult
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


R = TypeVar("R", contract.PublisherResult, OperationResult)


@dataclass(frozen=True)
class Outcome(Generic[R]):
    succeeded: bool
    cancelled: bool
    reason: str
    message: str
    retryable: bool
    result: R | None
    log_tail: list[str]


@dataclass(frozen=True)
class PodKind(Generic[R]):
    """What differs between a publisher pod and an operation pod when it has ended."""

    pod: str  # "publisher pod"
    crashed: str  # the reason when it failed without a result
    stopped: str  # the message of a cancelled result without one
    retryable: frozenset[str]
    decode: Callable[[str], R]  # the termination message, or ValueError
    succeeded: Callable[[PodView, R], tuple[str, str] | None]  # (reason, message); None: not valid


def tail(lines: list[str], limit: int = LOG_TAIL_LINES) -> list[str]:
    return [line[:500] for line in lines[-limit:]]


def classify_pod(kind: PodKind[R], pod: PodView) -> Outcome[R]:
    """Read a terminated pod: its JSON result if it wrote one, else what the kubelet reported."""
    def failed(reason: str, message: str, log_tail: list[str] | None = None,
               result: R | None = None) -> Outcome[R]:
        return Outcome(succeeded=False, cancelled=False, reason=reason, message=message,
                       retryable=reason in kind.retryable, result=result, log_tail=tail(log_tail or []))

    if pod.reason == "DeadlineExceeded":
        return failed("DeadlineExceeded",
                      f"{kind.pod} {pod.name} ran past spec.timeoutSeconds and was stopped")
    if pod.reason == "Evicted":
        return failed("Evicted", f"{kind.pod} {pod.name} was evicted: {pod.message or 'no message'}")
    if pod.stage_exit_code not in (None, 0):  # only a publisher pod has a stage container
        return failed("StageFailed", f"the stage container of pod {pod.name} failed with exit code "
                      f"{pod.stage_exit_code}; nothing was published", (pod.stage_message or "").splitlines())
    text = (pod.termination_message or "").strip()
    if text.startswith("{"):
        try:
            result = kind.decode(text)
        except ValueError as exc:
            return failed("InvalidResult", f"{kind.pod} {pod.name} wrote an unreadable result: {exc}",
                          text.splitlines())
        logs = tail(list(result["logTail"]))
        if result["outcome"] == contract.Outcome.SUCCEEDED.value:
            success = kind.succeeded(pod, result)
            if success is None:
                return failed("InvalidResult", f"{kind.pod} {pod.name} reported success without a revision "
                              "and tag", logs, result)
            return Outcome(succeeded=True, cancelled=False, reason=success[0], message=success[1],
                           retryable=False, result=result, log_tail=logs)
        if result["outcome"] == contract.Outcome.CANCELLED.value:
            return Outcome(succeeded=False, cancelled=True, reason="Cancelled",
                           message=result["message"] or kind.stopped, retryable=False, result=result,
                           log_tail=logs)
        reason = result["errorClass"] or contract.ErrorClass.INTERNAL.value
        step = f" at step {result['step']}" if result["step"] else ""
        return failed(reason, f"{reason}{step}: {result['message']}", logs, result)
    lines = text.splitlines()
    if pod.container_reason == "OOMKilled":
        return failed("OOMKilled", f"{kind.pod} {pod.name} ran out of memory", lines)
    if pod.exit_code == 0 or pod.phase == "Succeeded":
        return failed("NoResult", f"{kind.pod} {pod.name} exited without writing a result", lines)
    code = "unknown" if pod.exit_code is None else str(pod.exit_code)
    return failed(kind.crashed, f"{kind.pod} {pod.name} failed with exit code {code} without a result", lines)


def _published(pod: PodView, result: contract.PublisherResult) -> tuple[str, str] | None:
    if result["revisionAfter"] is None or not result["tag"]:
        return None
    return "Published", f"published revision {result['revisionAfter']} as tag {result['tag']}"


AttemptOutcome = Outcome[contract.PublisherResult]
PUBLISHER = PodKind[contract.PublisherResult](
    pod="publisher pod", crashed="PublisherCrashed", stopped="the publisher was stopped", retryable=RETRYABLE,
    decode=contract.decode_result, succeeded=_published)


def classify(pod: PodView) -> AttemptOutcome:
    """What a terminated publisher pod means for its Transaction."""
    return classify_pod(PUBLISHER, pod)
