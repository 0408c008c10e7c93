"""The recording thread: appends CSV rows and transcript lines, syncs them to disk at least every second."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolive.core.contracts import TranscriptSegment
from emolive.core.threads import OwnThread
from emolive.recording.files import AppendFile, RowFile, describe_os_error, report_failure
from emolive.recording.metadata import SIDECAR_NAME, TRANSCRIPT_NAME, utc_now, write_json_atomic
from emolive.recording.schema import Cell

RESERVE_NAME = ".final-sidecar-reserve"  # removed when the recording ends
RESERVE_BYTES = 64 * 1024  # the final session.json takes a few kB

log = logging.getLogger(__name__)

DEFAULT_SYNC_INTERVAL = 0.5  # seconds; the issue allows losing at most one second
MARKER_HOLD_S = 2.0  # longest a marker waits for the estimates of the steps before it
MAX_QUEUE = 50_000  # rows waiting for the thread (~80 min at 10 Hz) before new ones are counted as dropped


class SyncPolicy:
    """When to push buffered data to disk: ``interval`` seconds after the first unsynced write."""

    def __init__(self, interval: float = DEFAULT_SYNC_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("sync interval must be positive")
        self.interval = interval
        self._since: float | None = None

    def wrote(self, now: float) -> None:
        if self._since is None:
            self._since = now

    def due(self, now: float) -> bool:
        return self._since is not None and now - self._since >= self.interval

    def timeout(self, now: float) -> float | None:
        """How long the thread may sleep: None (no limit) when nothing is pending."""
        return None if self._since is None else max(0.0, self._since + self.interval - now)

    def synced(self) -> None:
        self._since = None


def segment_record(segment: TranscriptSegment) -> dict[str, Any]:
    """A committed transcript segment as one JSON line (session-clock times)."""
    return {
        "start": round(segment.start, 4), "end": round(segment.end, 4), "text": segment.text.strip(),
        "confidence": round(segment.confidence, 4), "t_emitted": round(segment.t_emitted, 4),
        "words": [{"text": w.text, "start": round(w.start, 4), "end": round(w.end, 4),
                   "probability": round(w.probability, 4)} for w in segment.words],
    }


@dataclass
class WriterStats:
    rows: int = 0  # estimate rows taken from the queue
    synced: int = 0  # rows (markers included) fsynced to disk
    markers: int = 0
    segments: int = 0
    dropped: int = 0
    first_t: float | None = None  # earliest and latest row time
    last_t: float | None = None


class RecordingWriter(OwnThread):
    """Owns session.csv, transcript.jsonl and session.json of one session folder, in its own thread (``OwnThread``).

    Producers call ``put_row`` / ``put_marker`` / ``put_segment`` from any thread (never blocking); the
    thread formats, appends whole batches with ``os.write`` and fsyncs per ``SyncPolicy``. An OS error
    stops the thread and is reported once through ``on_error(message)``.
    """

    def __init__(self, directory: Path, csv_file: RowFile, sidecar: Callable[[], dict[str, Any]],
                 on_error: Callable[[str], None], sync_interval: float = DEFAULT_SYNC_INTERVAL,
                 max_queue: int = MAX_QUEUE) -> None:
        super().__init__("emolive-recorder")
        self.directory = Path(directory)
        self._csv = csv_file
        self._transcript: AppendFile | None = None
        self._make_sidecar = sidecar
        self._sidecar: dict[str, Any] = {}
        self._on_error = on_error
        self._policy = SyncPolicy(sync_interval)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(max_queue)
        self._held_markers: list[tuple[float, list[Cell]]] = []
        self._pending_lines: list[str] = []
        self.stats = WriterStats()

    # --- producers (any thread) ------------------------------------------------------------------
    def put_row(self, cells: list[Cell]) -> bool:
        return self._put(("row", cells))

    def put_marker(self, cells: list[Cell]) -> bool:
        return self._put(("marker", cells))

    def put_segment(self, segment: TranscriptSegment) -> bool:
        return self._put(("segment", segment))

    def put_meta(self, changes: dict[str, Any]) -> bool:
        """Merge ``changes`` into the sidecar and rewrite it (e.g. the video's start once known)."""
        return self._put(("meta", changes))

    def finish(self, final: dict[str, Any], timeout: float | None = 10.0) -> None:
        """Sync what is queued, write the final sidecar (``final`` merged in) and end the thread."""
        if self.is_alive():
            self._queue.put(("stop", final))
        self.join(timeout)

    def stop(self) -> None:
        """Ask the thread to finish (what is queued is written first); returns at once."""
        self.request_stop({})

    def request_stop(self, final: dict[str, Any]) -> None:
        """Ask the thread to finish without waiting (safe from any thread, the writer's own included)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(("stop", final))

    def _put(self, item: tuple[str, Any]) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.stats.dropped += 1
            if self.stats.dropped == 1:
                log.warning("recording queue full: the disk does not keep up, rows are being dropped")
            return False

    # --- the thread ------------------------------------------------------------------------------
    def _main(self) -> None:
        final: dict[str, Any] | None = None
        try:
            self._sidecar = self._make_sidecar()
            write_json_atomic(self.directory / SIDECAR_NAME, self._sidecar)
            self._reserve()
            final = self._loop()
            self._sync()
        except OSError as exc:
            self._fail(f"recording stopped, {describe_os_error(exc, exc.filename or self.directory)}")
        except Exception as exc:  # a bug must not vanish silently either
            log.exception("recording thread crashed")
            self._fail(f"recording stopped: {type(exc).__name__}: {exc}")
        finally:
            self._close(final or {})

    def _loop(self) -> dict[str, Any]:
        while True:
            try:
                kind, payload = self._queue.get(timeout=self._policy.timeout(time.monotonic()))
            except queue.Empty:
                kind, payload = "", None
            while kind:
                if kind == "stop":
                    self._release_markers(lambda cells: True, everything=True)
                    return payload
                self._take(kind, payload)
                try:
                    kind, payload = self._queue.get_nowait()
                except queue.Empty:
                    kind = ""
            if self._policy.due(time.monotonic()):
                self._sync()

    def _take(self, kind: str, payload: Any) -> None:
        if kind == "marker" and isinstance(payload[0], float | int):
            # A marker is stamped "now" while estimates of earlier steps may still be on their way: hold it until
            # a row at or after its time arrives (or MARKER_HOLD_S passes) so the CSV stays in time order.
            self._held_markers.append((time.monotonic(), payload))
            self.stats.markers += 1
            self._note_time(payload[0])
            self._policy.wrote(time.monotonic())
            return
        if kind == "row" and isinstance(payload[0], float | int):
            self._release_markers(lambda m: m[0] <= payload[0])
        if kind in ("row", "marker"):
            self._csv.add(payload)
            t = payload[0]
            if isinstance(t, float | int):
                self.stats.first_t = t if self.stats.first_t is None else min(t, self.stats.first_t)
                self.stats.last_t = t if self.stats.last_t is None else max(t, self.stats.last_t)
            if kind == "marker":
                self.stats.markers += 1
            else:
                self.stats.rows += 1
        elif kind == "meta":
            self._sidecar.update(payload)
            write_json_atomic(self.directory / SIDECAR_NAME, self._sidecar)
            return
        elif kind == "segment":
            self._pending_lines.append(json.dumps(segment_record(payload), ensure_ascii=False) + "\n")
            self.stats.segments += 1
        self._policy.wrote(time.monotonic())

    def _note_time(self, t: float) -> None:
        self.stats.first_t = t if self.stats.first_t is None else min(t, self.stats.first_t)
        self.stats.last_t = t if self.stats.last_t is None else max(t, self.stats.last_t)

    def _release_markers(self, due: Callable[[list[Cell]], bool], everything: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for held_at, cells in self._held_markers:
            if everything or due(cells) or now - held_at > MARKER_HOLD_S:
                self._csv.add(cells)
            else:
                keep.append((held_at, cells))
        self._held_markers = keep

    def _sync(self) -> None:
        self._release_markers(lambda cells: False)  # markers held longer than MARKER_HOLD_S
        batch = self._csv.flush()
        if self._pending_lines:
            if self._transcript is None:
                self._transcript = AppendFile(self.directory / TRANSCRIPT_NAME, exclusive=False)
            self._transcript.append("".join(self._pending_lines).encode("utf-8"))
            self._pending_lines.clear()
            self._transcript.sync()
        self._csv.sync()
        self.stats.synced += batch
        self._policy.synced()

    def _reserve(self) -> None:
        """Hold RESERVE_BYTES of disk in the session folder until the end, so that the final sidecar (saying why
        the recording stopped) can be written even when the disk fills up meanwhile."""
        path = self.directory / RESERVE_NAME
        try:
            with path.open("wb") as handle:
                handle.write(bytes(RESERVE_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.debug("no disk reserve for the final sidecar: %s", exc)
            with contextlib.suppress(OSError):
                path.unlink()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            (self.directory / RESERVE_NAME).unlink()

    def _fail(self, message: str) -> None:
        self.error = message
        report_failure(self._on_error, message)

    def _close(self, final: dict[str, Any]) -> None:
        for handle in (self._csv, self._transcript):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        sidecar = {**self._sidecar, **final, "stopped_utc": utc_now(), "rows": self.stats.rows,
                   "markers": self.stats.markers, "segments": self.stats.segments,
                   "dropped_rows": self.stats.dropped, "first_t": self.stats.first_t, "last_t": self.stats.last_t,
                   "stop_reason": "error" if self.error else final.get("stop_reason", "stopped")}
        if self.error:
            sidecar["error"] = self.error
        self._release()  # on a full disk this frees the room the final sidecar needs
        try:
            write_json_atomic(self.directory / SIDECAR_NAME, sidecar)
        except OSError as exc:
            log.warning("could not write the final %s: %s", SIDECAR_NAME, describe_os_error(exc, self.directory))
