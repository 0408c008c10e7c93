"""The LSL marker inlet: markers from another program (PsychoPy, a stimulus script) into the recording's ``marker``
column, at the step nearest each marker's time, as if typed."""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

from emolive.core.contracts import EmotionEstimate, SourceEvent, TranscriptSegment
from emolive.outputs.clock import ClockMapping
from emolive.outputs.errors import OutputError
from emolive.outputs.lsl import MARKER_NAME, load_pylsl

log = logging.getLogger(__name__)

HOLD_S = 1.0  # longest a marker waits for the step after it (then the nearest step seen so far is used)
STEPS_KEPT = 600  # step times remembered (a minute at the default hop)
LOOK_S = 0.25  # how often the inlet asks its resolver whether the stream is there
FORGET_S = 2.0  # a stream not heard of for this long is no longer offered by the resolver
OPEN_S = 1.0  # longest wait for a found stream to answer

MarkerWriter = Callable[[str, float], Any]  # (label, session time) -> e.g. SessionRecorder.add_marker


def predicate(query: str) -> str:
    """An LSL resolve predicate matching a stream whose name or type is ``query`` (never emolive's own markers)."""
    if not query or "'" in query:
        raise OutputError(f"LSL marker stream {query!r}: give a stream name or type without quotes")
    return f"(name='{query}' or type='{query}') and name!='{MARKER_NAME}'"


class NearestStep:
    """The session times of recent steps; places a marker on the nearest one once the step after it is known."""

    def __init__(self, kept: int = STEPS_KEPT) -> None:
        self._times: deque[float] = deque(maxlen=kept)
        self._lock = threading.Lock()

    def add(self, t: float) -> None:
        with self._lock:
            if not self._times or t > self._times[-1]:
                self._times.append(t)

    def latest(self) -> float | None:
        with self._lock:
            return self._times[-1] if self._times else None

    def nearest(self, t: float) -> float | None:
        with self._lock:
            times = list(self._times)
        if not times:
            return None
        i = bisect.bisect_left(times, t)
        candidates = times[max(0, i - 1):i + 1]
        return min(candidates, key=lambda s: (abs(s - t), s))


class LslMarkerInlet:
    """Listens for a marker stream by name or type and writes each marker with ``write(label, t)`` at the session
    time of the nearest step. A pipeline sink itself (it learns the step times from the estimates).

    ``mapping`` turns LSL times into session times; the sender's clock offset is corrected by LSL
    (``proc_clocksync``). ``on_status(text)`` says when the stream is found or lost.
    """

    def __init__(self, query: str, mapping: ClockMapping, write: MarkerWriter,
                 on_status: Callable[[str], None] | None = None, pylsl: ModuleType | None = None) -> None:
        self.query, self.mapping, self.write = query, mapping, write
        self.predicate = predicate(query)
        self.on_status = on_status
        self._pylsl = pylsl
        self.steps = NearestStep()
        self.received = 0
        self.written = 0
        self.connected = False
        self._pending: list[tuple[float, str, float]] = []  # (session t, label, monotonic time received)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        pylsl = self._pylsl or load_pylsl()
        self._pylsl = pylsl
        self._thread = threading.Thread(target=self._main, name="emolive-lsl-markers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # --- contracts.PipelineSink -------------------------------------------------------------------------
    def on_estimate(self, estimate: EmotionEstimate) -> None:
        self.steps.add(estimate.t)

    def on_segment(self, segment: TranscriptSegment) -> None:
        return None

    def on_event(self, event: SourceEvent) -> None:
        return None

    # --- the thread ----------------------------------------------------------------------------------
    def _status(self, text: str) -> None:
        log.info("LSL markers: %s", text)
        if self.on_status is not None:
            try:
                self.on_status(text)
            except Exception:  # noqa: BLE001 - a broken listener must not end the inlet
                log.exception("marker status callback failed")

    def _main(self) -> None:
        pylsl = self._pylsl
        try:
            # a resolver in the background: asking it never blocks (a one-off resolve can outlast its timeout)
            resolver = pylsl.ContinuousResolver(pred=self.predicate, forget_after=FORGET_S)
        except (RuntimeError, OSError, ValueError) as exc:
            self._status(f"cannot look for {self.query!r}: {exc}")
            return
        try:
            while not self._stop.is_set():
                found = resolver.results()
                if not found:
                    self._flush(force=True)
                    self._stop.wait(LOOK_S)
                    continue
                try:
                    self._listen(pylsl, found[0])
                except (RuntimeError, OSError, ValueError) as exc:  # gone (LostError, TimeoutError: RuntimeErrors)
                    if self.connected:
                        self._status(f"lost {self.query!r} ({exc}); looking for it again")
                    self._stop.wait(LOOK_S)
                finally:
                    self.connected = False
            self._flush(force=True)
        finally:
            del resolver

    def _listen(self, pylsl: ModuleType, info: Any) -> None:
        inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)
        try:
            inlet.open_stream(timeout=OPEN_S)
            self.connected = True
            self._status(f"listening to {info.name()!r} (type {info.type()}) from {info.hostname()}")
            while not self._stop.is_set():
                sample, stamp = inlet.pull_sample(timeout=0.1)
                if sample is not None and stamp is not None:
                    self.received += 1
                    label = " ".join(str(sample[0]).split()) if sample else ""
                    self._pending.append((self.mapping.to_session(stamp), label, time.monotonic()))
                self._flush()
        finally:
            inlet.close_stream()

    def _flush(self, force: bool = False) -> None:
        """Write the markers whose following step is known (or that waited ``HOLD_S``) at their nearest step."""
        if not self._pending:
            return
        latest = self.steps.latest()
        now = time.monotonic()
        keep = []
        for t, label, received in self._pending:
            if force or now - received > HOLD_S or (latest is not None and latest >= t):
                step = self.steps.nearest(t)
                try:
                    self.write(label or "lsl marker", t if step is None else step)
                    self.written += 1
                except Exception:  # noqa: BLE001 - a failing writer must not end the inlet
                    log.exception("LSL markers: writing %r failed", label)
            else:
                keep.append((t, label, received))
        self._pending = keep
