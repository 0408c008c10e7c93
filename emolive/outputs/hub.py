"""LiveOutputs: the enabled live outputs of one session, started from the ``[outputs]`` settings.

A pipeline sink itself (subscribe it beside the recorder): it passes each item to its running outputs. An output
that cannot start is left out with one clear message (``problems``); the others, the app and the recording go on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from importlib import resources
from typing import Any

from emolive.config import AppConfig, OutputsConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import EmotionEstimate, SourceEvent, TranscriptSegment
from emolive.outputs.clock import ClockMapping, map_clocks
from emolive.outputs.errors import OutputError
from emolive.outputs.lsl import LslOutlet, load_pylsl
from emolive.outputs.markers import LslMarkerInlet, MarkerWriter
from emolive.outputs.websocket import WebSocketServer, check_host
from emolive.recording.metadata import describe_models, model_folders

log = logging.getLogger(__name__)


def overlay_page() -> str:
    """The overlay page's HTML (package data)."""
    return (resources.files("emolive.outputs") / "overlay" / "overlay.html").read_text(encoding="utf-8")


DISPATCH_POLL_S = 0.01  # how often the dispatch thread looks for new items (adds 5 ms latency on average)
DISPATCH_KEPT = 256  # items waiting for it; the oldest go first if it ever lags that far


class _Dispatch:
    """Fans items out to the outputs on a thread of its own that polls a bounded deque: the pipeline's worker only
    appends (no lock, no wake-up, no system call), so handing a step over never lets another thread in first."""

    def __init__(self, sinks: tuple[Any, ...]) -> None:
        self.sinks = sinks
        self._items: deque[tuple[str, Any]] = deque(maxlen=DISPATCH_KEPT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="emolive-outputs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, item: tuple[str, Any]) -> None:
        self._items.append(item)

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        while not self._stop.wait(DISPATCH_POLL_S):
            while self._items:
                kind, payload = self._items.popleft()
                for sink in self.sinks:
                    try:
                        getattr(sink, kind)(payload)
                    except Exception:  # noqa: BLE001 - one broken output must not stop the others
                        log.exception("%s.%s failed", type(sink).__name__, kind)


def check_outputs(settings: OutputsConfig) -> None:
    """Settings that cannot work, before anything starts (OutputError)."""
    if settings.overlay:
        check_host(settings.host, settings.token)


class LiveOutputs:
    """The outputs ``config.outputs`` enables, for a pipeline with session clock ``clock``.

    ``write_marker(label, t)``: where markers from an LSL marker stream go (the recorder's ``add_marker``);
    ``record_meta(entries)``: where the clock mapping goes for session.json (the recorder's ``put_meta``);
    ``source``: the camera or file (part of the LSL source id); ``on_status(text)``: the marker inlet's news.
    ``clock`` may be set after construction (the pipeline's, once it is built), before ``start``.
    """

    def __init__(self, config: AppConfig, clock: SessionClock | None, write_marker: MarkerWriter | None = None,
                 record_meta: Callable[[dict[str, Any]], None] | None = None, source: str = "",
                 on_status: Callable[[str], None] | None = None) -> None:
        self.config, self.settings, self.clock = config, config.outputs, clock
        self.write_marker, self.record_meta = write_marker, record_meta
        self.source, self.on_status = source, on_status
        self.mapping: ClockMapping | None = None
        self.lsl: LslOutlet | None = None
        self.inlet: LslMarkerInlet | None = None
        self.websocket: WebSocketServer | None = None
        self.problems: list[str] = []
        self._sinks: tuple[Any, ...] = ()
        self._dispatch: _Dispatch | None = None

    @property
    def wanted(self) -> bool:
        s = self.settings
        return s.lsl or bool(s.lsl_markers) or s.overlay

    def start(self) -> list[str]:
        """Start every enabled output; returns the problems (one message per output that could not start)."""
        if self.clock is None:
            raise ValueError("LiveOutputs.start needs the pipeline's clock")
        self.problems = []
        s, hop = self.settings, self.config.inference.hop_s
        lsl_clock = None
        if s.lsl or s.lsl_markers:
            try:
                lsl_clock = load_pylsl().local_clock
            except OutputError as exc:
                self._problem(str(exc))
        self.mapping = map_clocks(self.clock, lsl_clock)
        if self.record_meta is not None:
            self.record_meta({"clock_mapping": self.mapping.as_dict()})
        if s.lsl and lsl_clock is not None:
            meta = {"models": describe_models(model_folders(self.config)), "settings": _settings(self.config)}
            self.lsl = self._start(LslOutlet(self.mapping, hop, self.source, meta))
        if s.lsl_markers and lsl_clock is not None:
            if self.write_marker is None:
                self._problem("LSL markers: nothing to write them into")
            else:
                self.inlet = self._start(LslMarkerInlet(s.lsl_markers, self.mapping, self.write_marker,
                                                        self.on_status))
        if s.overlay:
            try:
                server = WebSocketServer(self.mapping, hop, s.host, s.port, s.token, overlay=overlay_page())
            except OutputError as exc:
                self._problem(str(exc))
            else:
                self.websocket = self._start(server)
        self._sinks = tuple(x for x in (self.lsl, self.inlet, self.websocket) if x is not None)
        if self._sinks:
            self._dispatch = _Dispatch(self._sinks)
            self._dispatch.start()
        return list(self.problems)

    def _start(self, output: Any) -> Any:
        try:
            output.start()
            return output
        except OutputError as exc:
            self._problem(str(exc))
            return None

    def _problem(self, message: str) -> None:
        log.warning("live outputs: %s", message)
        self.problems.append(message)

    def apply(self, config: AppConfig) -> list[str]:
        """Switch to the outputs ``config`` enables (the running ones stop first); returns the problems."""
        self.stop()
        self.config, self.settings = config, config.outputs
        self.lsl = self.inlet = self.websocket = None
        return self.start()

    def stop(self) -> None:
        """Stop every output (bounded waits); no item is passed on afterwards."""
        sinks, self._sinks = self._sinks, ()
        dispatch, self._dispatch = self._dispatch, None
        if dispatch is not None and not dispatch.stop():
            log.warning("shutdown: the outputs' dispatch thread did not stop in time")
        for output in sinks:
            try:
                if not output.stop():
                    log.warning("shutdown: %s did not stop in time", type(output).__name__)
            except Exception:  # noqa: BLE001 - closing goes on with the others
                log.exception("%s.stop() failed", type(output).__name__)

    def describe(self) -> str:
        """For the status bar: what runs (empty when nothing does)."""
        if not self._sinks:
            return ""
        parts = []
        if self.lsl is not None:
            parts.append("LSL")
        if self.inlet is not None:
            parts.append(f"markers from {self.settings.lsl_markers!r}" + ("" if self.inlet.connected else " (waiting)"))
        if self.websocket is not None:
            parts.append(f"overlay :{self.websocket.port}")
        return ", ".join(parts)

    def marker(self, label: str, t: float) -> None:
        """One of emolive's own markers (typed in the window): out on the LSL marker stream and the WebSocket."""
        for output in (self.lsl, self.websocket):
            if output is not None:
                output.marker(label, t)

    def clock_record(self) -> dict[str, Any] | None:
        """The clock mapping for session.json (None before ``start``)."""
        return None if self.mapping is None else self.mapping.as_dict()

    # --- contracts.PipelineSink ---------------------------------------------------------------------
    def on_estimate(self, estimate: EmotionEstimate) -> None:
        dispatch = self._dispatch
        if dispatch is not None:
            dispatch.offer(("on_estimate", estimate))

    def on_segment(self, segment: TranscriptSegment) -> None:
        dispatch = self._dispatch
        if dispatch is not None:
            dispatch.offer(("on_segment", segment))

    def on_event(self, event: SourceEvent) -> None:
        return None


def _settings(config: AppConfig) -> dict[str, Any]:
    from emolive.config import to_dict

    settings = to_dict(config)
    settings.get("outputs", {}).pop("token", None)  # the token stays private
    return settings


