from __future__ import annotations

import json

import pytest

from cvmfs_operator.api import contract


def _result(**overrides: object) -> contract.PublisherResult:
    result: contract.PublisherResult = {
        "contractVersion": contract.CONTRACT_VERSION,
        "outcome": "Succeeded",
        "errorClass": None,
        "step": None,
        "message": "published revision 4",
        "revisionBefore": 3,
        "revisionAfter": 4,
        "rootHash": "a" * 40,
        "tag": "team-release-1",
        "reflogChecksum": "b" * 40,
        "durations": {"mount": 1.5, "publish": 3.0},
        "leaseToken": None,
        "logTail": [],
    }
    result.update(overrides)  # type: ignore[typeddict-item]
    return result


def test_result_round_trips() -> None:
    assert contract.decode_result(contract.encode_result(_result())) == _result()


def test_oversized_result_drops_oldest_log_lines_but_keeps_every_field() -> None:
    lines = [f"line {i} " + "x" * 100 for i in range(200)]
    raw = contract.encode_result(_result(logTail=lines))
    assert len(raw) < contract.RESULT_MAX_BYTES
    decoded = contract.decode_result(raw)
    assert decoded["logTail"] == lines[-len(decoded["logTail"]):]
    assert decoded["revisionAfter"] == 4
    assert decoded["rootHash"] == "a" * 40


def test_a_huge_message_is_shortened_to_fit() -> None:
    raw = contract.encode_result(_result(message="m" * 10_000))
    assert len(raw) < contract.RESULT_MAX_BYTES
    assert contract.decode_result(raw)["message"].endswith("...")


@pytest.mark.parametrize(("raw", "error"), [
    ("[]", "not a JSON object"),
    (json.dumps({"outcome": "Succeeded"}), "lacks"),
    (json.dumps({**_result(), "outcome": "Maybe"}), "unknown outcome"),
    (json.dumps({**_result(), "errorClass": "Oops"}), "unknown error class"),
])
def test_malformed_results_are_refused_with_a_reason(raw: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        contract.decode_result(raw)


def test_config_with_another_contract_version_is_refused() -> None:
    with pytest.raises(ValueError, match="contract version"):
        contract.decode_config(json.dumps({
            "contractVersion": 99, "fqrn": "a.b", "stratum0Url": "http://x", "path": "/",
            "payload": {}, "tagName": "t",
        }))
