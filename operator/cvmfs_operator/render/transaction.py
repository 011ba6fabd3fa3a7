"""Effective values of a Transaction spec once defaults are applied."""

from __future__ import annotations

from cvmfs_operator.api.types import Transaction
from cvmfs_operator.render import names

DEFAULT_BACKOFF_LIMIT = 2
DEFAULT_TIMEOUT_SECONDS = 3600


def effective_path(txn: Transaction) -> str:
    return txn["spec"].get("path", "/") or "/"


def effective_tag(txn: Transaction) -> str:
    tag = txn["spec"].get("tag", {}).get("name")
    return tag or names.default_tag(txn["metadata"]["namespace"], txn["metadata"]["name"])


def tag_description(txn: Transaction) -> str:
    meta = txn["metadata"]
    given = txn["spec"].get("tag", {}).get("description")
    # cvmfs_server evaluates the whole text with a shell (api.inert): the suffix starts a new word
    # and is made of inert words only, so it is safe exactly when the given text is.
    origin = f"Transaction {meta['namespace']}/{meta['name']} uid {meta['uid']}"
    return f"{given} - {origin}" if given else f"Published by {origin}"


def backoff_limit(txn: Transaction) -> int:
    return int(txn["spec"].get("backoffLimit", DEFAULT_BACKOFF_LIMIT))


def timeout_seconds(txn: Transaction) -> int:
    return int(txn["spec"].get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS))


def ttl_after_finished(txn: Transaction) -> int | None:
    value = txn["spec"].get("ttlSecondsAfterFinished")
    return None if value is None else int(value)


def payload_kind(txn: Transaction) -> str | None:
    kinds = [kind for kind in ("tarball", "stage", "remove", "script") if kind in txn["spec"]["payload"]]
    return kinds[0] if len(kinds) == 1 else None
