"""Where a Transaction's time went, outside and around the publisher's own steps (pure).

``status.durations`` holds the publisher's steps (configure, mount, fetch, transaction, payload,
publish). ``status.timeline`` accounts for the rest of the wall time of the attempt that was
recorded, from timestamps the API server and the kubelet wrote:

- ``queued``: Transaction created → that attempt's pod created (queue, lock, the reads before a
  pod; for a retry also the earlier attempts);
- ``podStartup``: pod created → publisher container started (scheduling, image pull, volumes);
- ``publisher``: publisher container started → ended (the sum of its steps plus its own start-up);
- ``recording``: publisher ended → result recorded (noticing the end, reading the result);
- ``verification``: the part of ``recording`` spent reading the repository to confirm the publish.

Kubernetes stamps whole seconds, so each part is accurate to about a second; a part whose
timestamps are missing is left out rather than guessed.
"""

from __future__ import annotations

import datetime

from cvmfs_operator.reconcile.observed import PodView, parse_time

PHASES = ("queued", "podStartup", "publisher", "recording", "verification")


def _seconds(start: datetime.datetime | None, end: datetime.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def timeline(created: str | None, pod: PodView, now: datetime.datetime,
             verification_seconds: float | None) -> dict[str, float]:
    parts = {
        "queued": _seconds(parse_time(created), pod.created),
        "podStartup": _seconds(pod.created, pod.started),
        "publisher": _seconds(pod.started, pod.finished),
        "recording": _seconds(pod.finished, now),
        "verification": None if verification_seconds is None else round(verification_seconds, 3),
    }
    return {name: value for name, value in parts.items() if value is not None}
