"""Re-analyse a recorded session bundle: put its raw tracks back together, run an analyser, write the CSV.

The analyser is passed in (``emolive replay`` gives ``emolive.offline.analysis.analyze_file``), so this module
has no model code: it maps file time back onto the session clock, keeps the recorded markers and
compares the new estimates with the recorded ones.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import heapq
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolive.core.contracts import EmotionEstimate
from emolive.core.errors import MediaError
from emolive.recording import schema
from emolive.recording.files import RecordingError
from emolive.recording.metadata import AUDIO_NAME, CSV_NAME, SIDECAR_NAME, VIDEO_NAME, read_sidecar

log = logging.getLogger(__name__)

Analyzer = Callable[[Path, Callable[[EmotionEstimate], None]], Any]


@dataclass(frozen=True)
class RawBundle:
    """The raw tracks of a session folder and where each starts on the session clock."""

    folder: Path
    audio: Path | None
    video: Path | None
    audio_start: float
    video_start: float

    @property
    def base(self) -> float:
        """Session time of file time 0 in the re-assembled media."""
        starts = [s for s, p in ((self.audio_start, self.audio), (self.video_start, self.video)) if p is not None]
        return min(starts)


def _recorded_tracks(meta: dict) -> set[str]:
    """The raw files the sidecar says were recorded (its ``raw`` entries, else the recording settings)."""
    raw = meta.get("raw") if isinstance(meta.get("raw"), dict) else {}
    settings = (meta.get("config") or {}).get("recording") if isinstance(meta.get("config"), dict) else None
    settings = settings if isinstance(settings, dict) else {}
    found = set()
    if raw.get("audio") or settings.get("raw_audio") is True:
        found.add(AUDIO_NAME)
    if raw.get("video") or settings.get("raw_video") is True:
        found.add(VIDEO_NAME)
    return found


def open_bundle(folder: Path) -> RawBundle:
    """Check ``folder`` is a session with raw capture; RecordingError saying what is missing otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"session folder not found: {folder}")
    meta = read_sidecar(folder)
    if meta is None:
        raise RecordingError(f"{folder} is not a recorded session ({SIDECAR_NAME} missing or unreadable)")
    raw = meta.get("raw") or {}
    origin = raw.get("origin_session_s")
    origin = float(origin if origin is not None else meta.get("started_session_s") or 0.0)
    audio = folder / AUDIO_NAME if (folder / AUDIO_NAME).is_file() else None
    video = folder / VIDEO_NAME if (folder / VIDEO_NAME).is_file() and (folder / VIDEO_NAME).stat().st_size else None
    recorded = _recorded_tracks(meta)
    missing = [name for name, path in ((AUDIO_NAME, audio), (VIDEO_NAME, video))
               if path is None and name in recorded]
    if audio is None and video is None:
        if missing:
            raise RecordingError(f"{folder}: {SIDECAR_NAME} says {' and '.join(missing)} "
                                 f"{'were' if len(missing) > 1 else 'was'} recorded, but "
                                 f"{'they are' if len(missing) > 1 else 'it is'} missing or empty (moved or deleted?); "
                                 "there is nothing to re-analyse")
        raise RecordingError(f"{folder} has no raw capture ({AUDIO_NAME} / {VIDEO_NAME}): it was recorded with "
                             "recording.raw_audio and raw_video off, so there is nothing to re-analyse")
    for name in missing:
        log.warning("%s: %s was recorded but is missing or empty; replaying the other track only", folder, name)
    audio_start = (raw.get("audio") or {}).get("start_session_s")
    video_start = (raw.get("video") or {}).get("start_session_s")
    for name, path, start in (("audio", audio, audio_start), ("video", video, video_start)):
        if path is not None and start is None:
            log.warning("%s does not say when the %s started: assuming the recording's start", folder, name)
    return RawBundle(folder, audio, video, float(origin if audio_start is None else audio_start),
                     float(origin if video_start is None else video_start))


def assemble_media(bundle: RawBundle, out: Path) -> Path:
    """One media file holding the bundle's tracks at their session-clock offsets (copied, not re-encoded).

    With a single track that file itself is returned; two tracks are muxed into ``out`` (QuickTime
    .mov, which keeps the PCM audio bit-exact and the video's frame rate).
    """
    if bundle.audio is None or bundle.video is None:
        return bundle.audio or bundle.video  # type: ignore[return-value]
    import av

    tracks = [(bundle.video, bundle.video_start - bundle.base), (bundle.audio, bundle.audio_start - bundle.base)]
    try:
        inputs = [av.open(str(path)) for path, _ in tracks]
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open the raw capture of {bundle.folder}: {exc}") from exc
    try:
        with av.open(str(out), "w", format="mov") as output:
            streams = []
            for container, (_, shift) in zip(inputs, tracks, strict=True):
                source = container.streams[0]
                streams.append((container, source, output.add_stream_from_template(source), shift))
            merged = heapq.merge(*(_packets(i, *entry) for i, entry in enumerate(streams)), key=lambda x: x[:2])
            for _, _, packet in merged:
                output.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot assemble the raw capture of {bundle.folder}: {exc}") from exc
    finally:
        for container in inputs:
            container.close()
    return out


def _packets(index: int, container: Any, source: Any, target: Any, shift: float) -> Iterator[tuple[float, int, Any]]:
    """Packets of ``source`` re-targeted at ``target`` and moved ``shift`` seconds later; stops at damage."""
    import av

    try:
        for packet in container.demux(source):
            if packet.dts is None or packet.pts is None:
                continue
            offset = int(round(shift / packet.time_base))
            packet.pts += offset
            packet.dts += offset
            packet.stream = target
            yield float(packet.pts * packet.time_base), index, packet
    except av.FFmpegError as exc:  # a capture cut short by a crash: use what is readable
        log.warning("%s: stopping at a damaged packet (%s)", container.name, exc)


@dataclass(frozen=True)
class RecordedTrace:
    """The recorded CSV's times, emotion probabilities, dominant classes and markers (compact)."""

    t: list[float]
    emotion: list[tuple[float, ...]]
    dominant: list[str]
    markers: list[tuple[float, str]]


def read_trace(path: Path) -> RecordedTrace:
    """Only the columns replay needs, row by row (a one-hour CSV stays small in memory).

    Columns are found by name in the file's own header, so recordings of every schema version read."""
    trace = RecordedTrace([], [], [], [])
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = next(reader, [])
            schema.version_of(columns)
            t_i, m_i, d_i = columns.index("t"), columns.index("marker"), columns.index("dominant")
            e_i = [columns.index(c) for c in schema.emotion_columns()]
            for cells in reader:
                if len(cells) != len(columns):
                    continue  # a last line cut short by a crash
                if cells[m_i]:
                    trace.markers.append((float(cells[t_i]), cells[m_i]))
                elif cells[e_i[0]]:
                    trace.t.append(float(cells[t_i]))
                    trace.emotion.append(tuple(float(cells[i]) for i in e_i))
                    trace.dominant.append(cells[d_i])
    except FileNotFoundError:
        return trace
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise RecordingError(f"cannot read the recorded estimates {path}: {exc}") from exc
    return trace


@dataclass
class Agreement:
    """How closely replayed estimates match the recorded ones at the same session time."""

    matched: int = 0
    same_dominant: int = 0
    abs_diff_sum: float = 0.0
    max_abs_diff: float = 0.0

    def add(self, recorded: tuple[float, ...], dominant: str, estimate: EmotionEstimate) -> None:
        diffs = [abs(a - b) for a, b in zip(recorded, estimate.emotion, strict=True)]
        self.matched += 1
        self.same_dominant += dominant == estimate.dominant
        self.abs_diff_sum += sum(diffs) / len(diffs)
        self.max_abs_diff = max(self.max_abs_diff, *diffs)

    def as_json(self) -> dict[str, Any]:
        n = self.matched
        return {"matched": n, "dominant_agreement": round(self.same_dominant / n, 4) if n else None,
                "mean_abs_diff": round(self.abs_diff_sum / n, 6) if n else None,
                "max_abs_diff": round(self.max_abs_diff, 6) if n else None}


@dataclass
class ReplaySummary:
    session: Path
    output: Path
    rows: int
    markers: int
    agreement: dict[str, Any]
    note: str = ""  # what the comparison cannot see (a channel the raw capture lacks)

    def as_json(self) -> dict[str, Any]:
        return {"session": str(self.session), "output": str(self.output), "rows": self.rows,
                "markers": self.markers, "agreement": self.agreement, "note": self.note}


def comparison_note(bundle: RawBundle) -> str:
    """Why replayed and recorded rows differ by design when the raw capture lacks a track."""
    if bundle.video is None:
        return ("this recording kept no video: the replay hears voice and words only, while the recorded rows "
                "also used the face, so they differ where the face counted")
    if bundle.audio is None:
        return ("this recording kept no audio: the replay sees the face only, while the recorded rows also used "
                "the voice and words, so they differ where those counted")
    return ""


def default_output(folder: Path) -> Path:
    """``replay.csv`` in the session folder, ``replay-N.csv`` when taken (never overwrites)."""
    for n in range(1, 10_000):
        candidate = folder / ("replay.csv" if n == 1 else f"replay-{n}.csv")
        if not candidate.exists():
            return candidate
    raise RecordingError(f"too many replay files in {folder}")


def replay_session(folder: Path, analyze: Analyzer, output: Path | None = None, work_dir: Path | None = None,
                   match_s: float = 0.05) -> ReplaySummary:
    """Run ``analyze(media, on_estimate)`` on the session's raw capture and write the estimates CSV.

    Rows are on the session clock, with the recorded markers in time order; ``match_s`` is how far apart
    a replayed and a recorded row may be to be compared.
    """
    import tempfile

    bundle = open_bundle(folder)
    trace = read_trace(bundle.folder / CSV_NAME)
    output = Path(output) if output is not None else default_output(bundle.folder)
    agreement = Agreement()
    markers = list(trace.markers)
    rows = 0

    try:
        handle = output.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"cannot write {output}: {exc.strerror or exc}") from exc
    with handle, tempfile.TemporaryDirectory(dir=work_dir, prefix="emolive-replay-") as tmp:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(schema.header())

        def on_estimate(estimate: EmotionEstimate) -> None:
            nonlocal rows
            estimate = dataclasses.replace(estimate, t=estimate.t + bundle.base)
            while markers and markers[0][0] <= estimate.t:
                writer.writerow(schema.marker_row(*markers.pop(0)))
            writer.writerows(schema.rows(estimate))
            rows += 1
            i = bisect.bisect_left(trace.t, estimate.t)
            near = [j for j in (i - 1, i) if 0 <= j < len(trace.t) and abs(trace.t[j] - estimate.t) <= match_s]
            if near:
                j = min(near, key=lambda k: abs(trace.t[k] - estimate.t))
                agreement.add(trace.emotion[j], trace.dominant[j], estimate)

        media = assemble_media(bundle, Path(tmp) / "session.mov")
        log.info("replaying %s (file time 0 = session time %.3f s)", media, bundle.base)
        analyze(media, on_estimate)
        for marker in markers:
            writer.writerow(schema.marker_row(*marker))
    if rows == 0:
        log.warning("the analyser produced no estimates for %s", bundle.folder)
    return ReplaySummary(bundle.folder, output, rows, len(trace.markers), agreement.as_json(),
                         comparison_note(bundle))
