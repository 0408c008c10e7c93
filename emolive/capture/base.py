"""The common life cycle of a capture thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from emolive.core.clock import SessionClock
from emolive.core.contracts import EventKind, SourceEvent

log = logging.getLogger(__name__)

EventSink = Callable[[SourceEvent], None]


class CaptureSource:
    """A daemon thread running ``_run`` until ``stop()``; exceptions become ``error`` events, not silence."""

    name: str = "source"  # a SourceKind in the real sources
    measured_fps: float = 0.0  # frames per second delivered lately (sources with video that measure it)

    def __init__(self, clock: SessionClock, on_event: EventSink | None = None) -> None:
        self.clock = clock
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._thread = threading.Thread(target=self._main, name=f"emolive-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def emit(self, kind: EventKind, message: str = "") -> None:
        event = SourceEvent(t=self.clock.now(), source=self.name, kind=kind, message=message)
        (log.warning if kind == EventKind.ERROR else log.info)("%s %s: %s", self.name, kind, message)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a faulty sink must not kill capture
                log.exception("event sink failed")

    def _main(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("%s crashed", self.name)
            self.emit(EventKind.ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.set()

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
