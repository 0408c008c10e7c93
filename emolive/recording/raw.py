"""Optional raw capture of a session: audio as 16-bit WAV, video as fragmented MP4, on the session clock.

Each track starts with its first data after the recording's ``origin`` (session seconds) and keeps the session
clock from there: audio sample ``i`` is at ``start + i / sample_rate`` (gaps in capture are filled with silence),
a video frame's presentation time is ``frame.t - start``. The sidecar's ``raw`` section keeps both starts, so
``emolive replay`` can put the two tracks side by side and map file time back onto the session clock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import wave
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.contracts import AudioBlock, VideoFrame
from emolive.core.rings import AudioRing, FrameRing
from emolive.core.threads import OwnThread
from emolive.recording.files import describe_os_error, report_failure
from emolive.recording.metadata import AUDIO_NAME, VIDEO_NAME

log = logging.getLogger(__name__)

AUDIO_TOLERANCE_S = 0.02  # timestamp jitter below this is not treated as a gap or an overlap
MAX_PENDING_FRAMES = 60  # frames waiting for the encoder before new ones are dropped (and counted)
TIME_BASE = Fraction(1, 1000)  # video pts in milliseconds, so a variable capture rate is kept as it was


class WavTrack:
    """Mono 16-bit WAV placed on the session clock; the header is valid after every write."""

    def __init__(self, path: Path, origin: float | None, sample_rate: int = 16_000) -> None:
        self.path, self.origin, self.sample_rate = path, origin, sample_rate  # audio before origin is dropped
        self.start: float | None = None  # session time of sample 0
        self._file = path.open("xb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - kept open for the whole recording
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.samples = 0
        self.gap_samples = 0

    def write(self, block: AudioBlock) -> None:
        if block.sample_rate != self.sample_rate:
            raise ValueError(f"raw audio expects {self.sample_rate} Hz, got {block.sample_rate} Hz")
        data = np.asarray(block.samples, dtype=np.float32).reshape(-1)
        t = block.t
        if self.origin is not None and t < self.origin:  # captured before the recording started
            skip = int(round((self.origin - t) * self.sample_rate))
            data, t = data[skip:], t + skip / self.sample_rate
        if not data.size:
            return
        if self.start is None:
            self.start = t
        position = int(round((t - self.start) * self.sample_rate))
        offset = position - self.samples
        if abs(offset) > AUDIO_TOLERANCE_S * self.sample_rate:
            if offset > 0:  # a gap in capture: keep it as silence so the clock stays aligned
                self._frames(np.zeros(offset, np.float32))
                self.gap_samples += offset
            else:  # overlap: skip what is already there
                data = data[-offset:]
        if data.size:
            self._frames(data)

    def _frames(self, data: np.ndarray) -> None:
        pcm = (np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
        self._wav.writeframes(pcm.tobytes())  # also patches the header's lengths
        self.samples += data.size

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._wav.close()
        finally:
            self._file.close()
            if self.samples == 0:  # no audio arrived (no microphone, no ring attached): leave no empty file
                self.path.unlink(missing_ok=True)


class Mp4Track:
    """H.264 (or MPEG-4 Part 2 when x264 is missing) in fragmented MP4: a killed process leaves a playable file."""

    def __init__(self, path: Path, origin: float | None, fps: float = 30.0) -> None:
        import av

        self.path, self.origin, self.fps = path, origin, fps
        path.touch(exist_ok=False)
        # Fragments of at most a second, each pushed to the OS at once (flush_packets): a crash keeps all
        # but the last fragment readable.
        self._container = av.open(str(path), "w", format="mp4", container_options={
            "movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000",
            "flush_packets": "1"})
        self._stream = None
        self.frames = 0
        self.start: float | None = None  # session time of the first frame (pts 0)
        self._last_pts = -1
        self._closed = False

    def _open_stream(self, width: int, height: int) -> None:
        import av

        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23"} if codec == "libx264" else {}
        gop = max(1, int(round(self.fps)))  # a keyframe (and so a fragment) about every second
        stream = self._container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1000), options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.gop_size = gop
        self._stream = stream

    def write(self, frame: VideoFrame) -> None:
        import av

        image = frame.image
        if self._stream is None:
            self._open_stream(image.shape[1] // 2 * 2, image.shape[0] // 2 * 2)
        if self.start is None:
            if self.origin is not None and frame.t < self.origin:  # captured before the recording started
                return
            self.start = frame.t  # fragmented MP4 starts at pts 0: the sidecar keeps the real start
        pts = int(round((frame.t - self.start) / TIME_BASE))
        if pts <= self._last_pts:  # before the start, or a duplicate: containers need rising pts
            return
        self._last_pts = pts
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        if (video.width, video.height) != (self._stream.width, self._stream.height):
            video = video.reformat(width=self._stream.width, height=self._stream.height)
        video.pts, video.time_base = pts, TIME_BASE
        for packet in self._stream.encode(video):
            self._container.mux(packet)
        self.frames += 1

    def sync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            if self.frames == 0:  # no video arrived: leave no empty, unplayable file behind
                self.path.unlink(missing_ok=True)


class RawCaptureWriter(OwnThread):
    """Writes raw audio/video in its own thread (``OwnThread``), fed by ``put_audio``/``put_frame`` or by polling
    the rings.

    Polling (``frames``/``audio`` rings given) takes everything newer than what was written, every
    ``poll_s``; the frame ring must hold more than ``poll_s`` of video (the default 30 frames, 1 s at 30 fps, do).
    """

    def __init__(self, directory: Path, origin: float | None, on_error: Callable[[str], None], audio: bool = True,
                 video: bool = False, fps: float = 30.0, sample_rate: int = 16_000,
                 frame_ring: FrameRing | None = None, audio_ring: AudioRing | None = None,
                 poll_s: float = 0.1, sync_interval: float = 0.5,
                 on_info: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__("emolive-raw-capture")
        self.directory, self.origin = Path(directory), origin
        self._on_error = on_error
        self._on_info = on_info  # told ``info()`` when a track's start on the session clock becomes known
        self._want_audio, self._want_video = audio, video
        self.fps, self.sample_rate = fps, sample_rate
        self._frame_ring, self._audio_ring = frame_ring, audio_ring
        self._poll_s, self._sync_interval = poll_s, sync_interval
        self._queue: queue.Queue[AudioBlock | VideoFrame] = queue.Queue()
        self._pending_frames = 0
        self._lock = threading.Lock()
        self.wav: WavTrack | None = None
        self.mp4: Mp4Track | None = None
        self.dropped_frames = 0
        self.error: str | None = None
        # None (no session clock known): start from whatever the rings hold newest at the first poll
        self._last_frame_t: float | None = None if origin is None else origin - 1e-9
        self._audio_next_t: float | None = origin
        self._last_frame_index: int | None = None

    def open(self) -> None:
        """Create the files (raises OSError at once when the folder is not writable)."""
        if self._want_audio:
            self.wav = WavTrack(self.directory / AUDIO_NAME, self.origin, self.sample_rate)
        if self._want_video:
            self.mp4 = Mp4Track(self.directory / VIDEO_NAME, self.origin, self.fps)

    def put_audio(self, block: AudioBlock) -> None:
        if self.wav is not None and not self.stopping.is_set():
            self._queue.put_nowait(block)

    def put_frame(self, frame: VideoFrame) -> None:
        if self.mp4 is None or self.stopping.is_set():
            return
        with self._lock:
            if self._pending_frames >= MAX_PENDING_FRAMES:
                self.dropped_frames += 1
                return
            self._pending_frames += 1
        self._queue.put_nowait(frame)

    def close(self, timeout: float | None = 10.0) -> None:
        """``stop``, then wait up to ``timeout`` seconds for the files to be finished."""
        self.stop()
        self.join(timeout)

    def info(self) -> dict[str, Any]:
        """The sidecar's ``raw`` section: files, origin and what was written."""
        info: dict[str, Any] = {"origin_session_s": None if self.origin is None else round(self.origin, 6)}
        if self.wav is not None:
            start = self.wav.start
            info["audio"] = {"file": AUDIO_NAME, "start_session_s": None if start is None else round(start, 6),
                             "sample_rate": self.sample_rate, "format": "wav pcm_s16le mono",
                             "seconds": round(self.wav.samples / self.sample_rate, 3),
                             "gap_seconds": round(self.wav.gap_samples / self.sample_rate, 3)}
        if self.mp4 is not None:
            start = self.mp4.start
            info["video"] = {"file": VIDEO_NAME, "start_session_s": None if start is None else round(start, 6),
                             "nominal_fps": self.fps, "frames": self.mp4.frames,
                             "dropped_frames": self.dropped_frames, "pts_time_base": str(TIME_BASE)}
        return info

    # --- the thread ------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            last_sync = time.monotonic()
            while not self.stopping.is_set():
                self._poll_rings()
                self._drain(self._poll_s)
                if time.monotonic() - last_sync >= self._sync_interval:
                    self._sync()
                    last_sync = time.monotonic()
            self._poll_rings()
            self._drain(0.0)
            self._close()
        except OSError as exc:
            self._fail(f"raw capture stopped, {describe_os_error(exc, exc.filename or self.directory)}")
        except Exception as exc:
            log.exception("raw capture crashed")
            self._fail(f"raw capture stopped: {type(exc).__name__}: {exc}")
        finally:
            self._release()

    def _poll_rings(self) -> None:
        if self._audio_ring is not None and self.wav is not None:
            end = self._audio_ring.end_time
            if self._audio_next_t is None:
                self._audio_next_t = end
            elif end > self._audio_next_t:
                block = self._audio_ring.between(self._audio_next_t, end)
                if block.samples.size:
                    self._write_audio(block)
                    self._audio_next_t = block.t + block.duration
        if self._frame_ring is not None and self.mp4 is not None:
            if self._last_frame_t is None:
                latest = self._frame_ring.latest()
                self._last_frame_t = latest.t if latest is not None else float("-inf")
            for frame in self._frame_ring.between(self._last_frame_t + 1e-9, float("inf")):
                if self._last_frame_index is not None and frame.index > self._last_frame_index + 1:
                    self.dropped_frames += frame.index - self._last_frame_index - 1  # left the ring unread
                self._write_frame(frame)
                self._last_frame_t, self._last_frame_index = frame.t, frame.index

    def _drain(self, wait: float) -> None:
        try:
            item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(item, VideoFrame):
                with self._lock:
                    self._pending_frames -= 1
                if self.mp4 is not None:
                    self._write_frame(item)
            elif self.wav is not None:
                self._write_audio(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _starts(self) -> tuple[float | None, float | None]:
        return (self.wav.start if self.wav else None), (self.mp4.start if self.mp4 else None)

    def _announce(self, before: tuple[float | None, float | None]) -> None:
        """Tell ``on_info`` when a track's start on the session clock became known."""
        if self._on_info is not None and self._starts() != before:
            self._on_info(self.info())

    def _write_frame(self, frame: VideoFrame) -> None:
        assert self.mp4 is not None
        before = self._starts()
        self.mp4.write(frame)
        self._announce(before)

    def _write_audio(self, block: AudioBlock) -> None:
        assert self.wav is not None
        before = self._starts()
        self.wav.write(block)
        self._announce(before)

    def _sync(self) -> None:
        for track in (self.wav, self.mp4):
            if track is not None:
                track.sync()

    def _close(self) -> None:
        for track in (self.wav, self.mp4):
            if track is not None:
                track.close()

    def _release(self) -> None:
        """Close whatever is still open after an error (ignoring further errors)."""
        for track in (self.wav, self.mp4):
            if track is not None:
                with contextlib.suppress(Exception):
                    track.close()

    def _fail(self, message: str) -> None:
        self.error = message
        report_failure(self._on_error, message)
