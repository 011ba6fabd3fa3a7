"""Pure formatting for ``kubectl cvmfs``: tables like ``kubectl get``, phase changes, summaries,
JSON/YAML output and colour. No I/O: every function takes data (and the time) and returns text."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from cvmfs_operator.api.types import Transaction

PHASE_COLOURS = {"Succeeded": "32", "Failed": "31", "Cancelled": "33", "Running": "36", "Queued": "34"}


def colour(text: str, code: str | None, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled and code else text


def phase_text(phase: str, enabled: bool) -> str:
    return colour(phase, PHASE_COLOURS.get(phase), enabled)


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(created: str | None, now: datetime.datetime) -> str:
    """kubectl's short age: 45s, 12m, 3h, 5d (the two largest units below a day: 2m5s, 3h4m)."""
    moment = parse_time(created)
    if moment is None:
        return "<unknown>"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if days < 2:
        return f"{hours}h"
    return f"{days}d"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by three spaces, left aligned, like ``kubectl get``."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in [list(headers), *rows]]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "<none>" if value is None or value == "" else str(value)


def transaction_rows(items: Sequence[Transaction], now: datetime.datetime, *, all_namespaces: bool,
                     wide: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "REPOSITORY", "PHASE", "REVISION", "DURATION", "AGE"]
    if wide:
        headers += ["PATH", "QUEUE", "REASON"]
    if all_namespaces:
        headers = ["NAMESPACE", *headers]
    rows = []
    ordered = sorted(items, key=lambda t: (t["metadata"].get("namespace", ""), t["metadata"].get("name", "")))
    for txn in ordered:
        meta, spec, status = txn["metadata"], txn.get("spec", {}), txn.get("status", {})
        row = [meta.get("name", ""), _cell(spec.get("repository")), _cell(status.get("phase")),
               _cell(status.get("revisionAfter")), _cell(status.get("duration")),
               age(meta.get("creationTimestamp"), now)]
        if wide:
            row += [_cell(spec.get("path", "/")), _cell(status.get("queuePosition")),
                    _cell(status.get("reason"))]
        rows.append([meta.get("namespace", ""), *row] if all_namespaces else row)
    return headers, rows


def as_list(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": list(items)}


def dump(obj: Any, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=4, sort_keys=False)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip("\n")


def change(before: Mapping[str, Any] | None, after: Mapping[str, Any], enabled: bool = False) -> str | None:
    """One line for what changed that a release manager cares about, or None when nothing did:
    the phase, the queue position, the pod (a new attempt), the latest failure."""
    first = before is None  # the first look: say where it stands, even Pending
    before = before or {}
    phase = str(after.get("phase") or "Pending")
    parts: list[str] = []
    if phase != (before.get("phase") or ("" if first else "Pending")):
        parts.append(phase_text(phase, enabled))
        if after.get("reason") and after["reason"] != phase and phase != "Running":
            parts.append(str(after["reason"]))  # not "Queued  Queued": the operator's reason repeats it
    position = after.get("queuePosition")
    if phase == "Queued" and position and position != before.get("queuePosition"):
        parts.append(f"position {position} in the repository's queue")
    failure = after.get("lastFailure")
    if failure and failure != before.get("lastFailure"):
        parts.append(f"attempt {failure.get('attempt')} failed: {failure.get('reason')}: "
                     f"{failure.get('message')}")
    pod = after.get("podName")
    if pod and pod != before.get("podName") and phase == "Running":
        parts.append(f"attempt {after.get('attempts', 1)}, publisher pod {pod}")
    if phase in ("Failed", "Cancelled") and after.get("message") and phase != before.get("phase"):
        parts.append(str(after["message"]))
    return "  ".join(parts) if parts else None


def summary(txn: Transaction, enabled: bool = False) -> list[str]:
    """The closing lines of a followed Transaction (or ``status``)."""
    meta, spec, status = txn["metadata"], txn.get("spec", {}), txn.get("status", {})
    phase = str(status.get("phase") or "Pending")
    lines = [f"Transaction {meta.get('namespace')}/{meta.get('name')}: {phase_text(phase, enabled)}"
             + (f" ({status['reason']})" if status.get("reason") else "")]
    lines.append(f"  repository  {spec.get('repository')}  path {spec.get('path', '/')}")
    if status.get("revisionBefore") is not None or status.get("revisionAfter") is not None:
        lines.append(f"  revision    {_cell(status.get('revisionBefore'))} -> "
                     f"{_cell(status.get('revisionAfter'))}")
    if status.get("tag"):
        lines.append(f"  tag         {status['tag']}")
    if status.get("duration"):
        lines.append(f"  duration    {status['duration']}")
    if status.get("queuePosition"):
        lines.append(f"  queue       position {status['queuePosition']}")
    if status.get("message") and phase != "Succeeded":
        lines.append(f"  message     {status['message']}")
    return lines


def progress_bar(done: int, total: int, width: int = 30) -> str:
    fraction = 1.0 if total <= 0 else min(1.0, done / total)
    filled = int(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}%  {size(done)} / {size(total)}"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def history_rows(tags: Sequence[Any], current: int | None) -> tuple[list[str], list[list[str]]]:
    """Tags newest first: name, revision, publish time (UTC), root hash (short), description."""
    rows = []
    for tag in sorted(tags, key=lambda t: (-t.revision, t.name)):
        when = datetime.datetime.fromtimestamp(tag.timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        mark = "*" if current is not None and tag.revision == current else ""
        rows.append([tag.name, f"{tag.revision}{mark}", when, tag.root_hash[:12], tag.description])
    return ["TAG", "REVISION", "PUBLISHED (UTC)", "ROOT HASH", "DESCRIPTION"], rows
