"""Event-loop responsiveness: a fast QTimer that records how late each of its ticks fires."""

from __future__ import annotations

import logging
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer

log = logging.getLogger(__name__)

LOG_STALL_MS = 200.0  # stalls longer than this are logged (debug) with when they happened


class StallMeter(QObject):
    """Ticks every ``interval_ms``; a tick's lateness is how much longer than the interval it took.

    A busy GUI thread (long paint, blocking call) shows up as late ticks: p95 lateness is the
    event-loop stall figure the issue asks for (< 50 ms).
    """

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.lateness_ms: list[float] = []
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._last = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            late = max(0.0, (now - self._last) * 1000.0 - self.interval_ms)
            self.lateness_ms.append(late)
            if late > LOG_STALL_MS:
                log.debug("event loop stalled %.0f ms (tick %d)", late, len(self.lateness_ms))
        self._last = now

    def summary(self) -> dict[str, float]:
        """``n`` ticks and lateness p50/p95/max in milliseconds (zeros before any tick)."""
        if not self.lateness_ms:
            return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
        data = np.asarray(self.lateness_ms)
        return {"n": int(data.size), "p50_ms": float(np.percentile(data, 50)),
                "p95_ms": float(np.percentile(data, 95)), "max_ms": float(data.max())}
