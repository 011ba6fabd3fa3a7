"""SIGTERM handling: the kubelet's deadline or a pod deletion turns into :class:`Cancelled`.

While *armed* (the transaction's steps), the handler raises ``Cancelled`` in the main thread,
which interrupts whatever the publisher waits on. While disarmed (abort, writing the result) it
only records the signal, so the clean-up itself is never interrupted.
"""

from __future__ import annotations

import signal
import types

from cvmfs_operator.publisher.errors import Cancelled


class CancelSwitch:
    def __init__(self) -> None:
        self.received = False
        self._armed = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def arm(self) -> None:
        self._armed = True
        if self.received:
            raise Cancelled()

    def disarm(self) -> None:
        self._armed = False

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        self.received = True
        if self._armed:
            self._armed = False  # one raise; a second signal must not interrupt the clean-up
            raise Cancelled()
