"""Find recorded sessions and summarise them (start, duration, size, what was captured)."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emolive.recording.files import RecordingError
from emolive.recording.metadata import AUDIO_NAME, CSV_NAME, SIDECAR_NAME, VIDEO_NAME, read_sidecar
from emolive.recording.schema import header

log = logging.getLogger(__name__)

TAIL_BYTES = 16_384


@dataclass(frozen=True)
class SessionInfo:
    """One session folder as `emolive sessions` shows it."""

    path: Path
    name: str
    started_utc: str | None
    duration_s: float | None  # from the first to the last row (None: no rows)
    size_bytes: int
    rows: int | None  # estimate rows (None when the session did not end cleanly and was not counted)
    markers: int | None
    raw_audio: bool
    raw_video: bool
    complete: bool  # stopped normally (False: still running, killed, or stopped by an error)
    error: str = ""
    source: str = ""  # "file NAME", "camera ID" / "microphone", or "" when the sidecar does not say

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def folder_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _first_and_last_t(path: Path) -> tuple[float | None, float | None]:
    """The first and last ``t`` of a CSV, reading only its head and tail (a killed write is skipped)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(TAIL_BYTES)
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None, None

    def times(chunk: bytes) -> list[float]:
        lines = chunk.decode("utf-8", "replace").splitlines()[1:]  # the header, or a line cut by the seek
        found = []
        for cells in csv.reader(io.StringIO("\n".join(lines))):
            if len(cells) != width:  # a header, or a line cut short by a crash or by the chunk's edge
                continue
            try:
                found.append(float(cells[0]))
            except (ValueError, IndexError):
                continue
        return found

    own = next(csv.reader(io.StringIO(head.decode("utf-8", "replace").split("\n", 1)[0])), [])
    width = len(own) if own and own[0] == "t" else len(header())  # the file's own schema version
    first, last = times(head), times(tail)
    return (min(first) if first else None), (max(last) if last else None)


def _number(value: Any) -> float | None:
    """A sidecar's number, or None when it holds something else (a hand-edited or damaged file)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def describe_session(folder: Path) -> SessionInfo:
    """One folder's summary; fields the sidecar holds with the wrong type count as unknown."""
    folder = Path(folder)
    meta = read_sidecar(folder)
    problem = ""
    if meta is None and (folder / SIDECAR_NAME).exists():
        problem = f"{SIDECAR_NAME} is unreadable"
    meta = meta or {}
    complete = meta.get("stop_reason") == "stopped" and not problem
    first, last = _number(meta.get("first_t")), _number(meta.get("last_t"))
    if not complete or first is None or last is None:
        first, last = _first_and_last_t(folder / CSV_NAME)
    started = meta.get("started_utc")
    return SessionInfo(
        path=folder, name=folder.name, started_utc=started if isinstance(started, str) else None,
        duration_s=round(last - first, 3) if first is not None and last is not None else None,
        size_bytes=folder_size(folder), rows=_count(meta.get("rows")) if "stopped_utc" in meta else None,
        markers=_count(meta.get("markers")) if "stopped_utc" in meta else None,
        raw_audio=(folder / AUDIO_NAME).is_file(),
        raw_video=(folder / VIDEO_NAME).is_file(), complete=complete,
        error=problem or str(meta.get("error") or ""), source=_source(meta))


def _source(meta: dict[str, Any]) -> str:
    """The recorded source in a few words, from the sidecar's ``devices.source``."""
    devices = meta.get("devices")
    source = devices.get("source") if isinstance(devices, dict) else None
    if not isinstance(source, dict):
        return ""
    if source.get("kind") == "file":
        return f"file {Path(str(source.get('file', ''))).name}"
    parts = [f"camera {source['camera']}" if source.get("camera") else "no camera",
             "mic" if source.get("microphone", "none") != "none" else "no mic"]
    return ", ".join(parts)


def list_sessions(root: Path) -> list[SessionInfo]:
    """Sessions (folders holding session.csv or session.json) directly under ``root``, oldest first.

    A missing ``root`` means no sessions yet; a ``root`` that is not a folder is a RecordingError.
    """
    root = Path(root)
    if not root.exists():
        return []
    if not root.is_dir():
        raise RecordingError(f"not a folder: {root}")
    try:
        folders = sorted(p for p in root.iterdir()
                         if p.is_dir() and ((p / CSV_NAME).is_file() or (p / SIDECAR_NAME).is_file()))
    except OSError as exc:
        raise RecordingError(f"cannot list {root}: {exc.strerror or exc}") from exc
    return [_described(folder) for folder in folders]


def _described(folder: Path) -> SessionInfo:
    """``describe_session``, or a row saying the folder could not be read: one odd folder never breaks the list."""
    try:
        return describe_session(folder)
    except Exception as exc:  # a damaged folder of any kind: shown, not raised
        log.warning("cannot describe the session %s: %s", folder, exc)
        return SessionInfo(path=folder, name=folder.name, started_utc=None, duration_s=None, size_bytes=0,
                           rows=None, markers=None, raw_audio=False, raw_video=False, complete=False,
                           error=f"cannot be read ({type(exc).__name__})")
