"""The common life cycle of a capture thread (the shared ``OwnThread``) and its events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from emolive.core.clock import SessionClock
from emolive.core.contracts import EventKind, SourceEvent
from emolive.core.threads import OwnThread

log = logging.getLogger(__name__)

EventSink = Callable[[SourceEvent], None]


class CaptureSource(OwnThread):
    """A daemon thread running ``_run`` until ``stop()`` (``core.threads.OwnThread``); an exception becomes an
    ``error`` event, not silence, and ``finished`` is set when the thread ends."""

    name: str = "source"  # a SourceKind in the real sources
    measured_fps: float = 0.0  # frames per second delivered lately (sources with video that measure it)

    def __init__(self, clock: SessionClock, on_event: EventSink | None = None) -> None:
        super().__init__(f"emolive-{self.name}")
        self.clock = clock
        self._on_event = on_event
        self.finished = threading.Event()

    @property
    def gives_pictures(self) -> bool:
        """Whether it delivers video frames (a camera, a file with a video track, a synthetic picture)."""
        return False

    def emit(self, kind: EventKind, message: str = "") -> None:
        event = SourceEvent(t=self.clock.now(), source=self.name, kind=kind, message=message)
        (log.warning if kind == EventKind.ERROR else log.info)("%s %s: %s", self.name, kind, message)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a faulty sink must not kill capture
                log.exception("event sink failed")

    def _main(self) -> None:
        self._run()

    def _report(self, message: str) -> None:
        self.emit(EventKind.ERROR, message)

    def _ended(self) -> None:
        self.finished.set()

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
