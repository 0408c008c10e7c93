"""A video or audio file as a source: real-time paced (stand-in for camera + mic) or as fast as possible."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolive.capture.base import CaptureSource, EventSink
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, EventKind, SourceKind, VideoFrame, frozen_array
from emolive.core.errors import MediaError, not_a_file, plain_reason
from emolive.core.rings import AudioRing, FrameRing

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MAX_BAD_PACKETS = 50


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    has_video: bool
    has_audio: bool
    duration: float  # seconds, 0.0 when the container does not say
    fps: float
    width: int
    height: int


def _open(path: Path):
    import av

    if not path.is_file():
        raise MediaError(not_a_file(path))
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open {path}: not a readable media file ({plain_reason(exc)})") from exc


def probe_media(path: str | Path) -> MediaInfo:
    """What a media file holds; MediaError when it is missing, corrupt or has neither video nor audio."""
    path = Path(path)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path} has neither a video nor an audio track")
        duration = float(container.duration / 1_000_000) if container.duration else 0.0
        fps = float(video.average_rate) if video is not None and video.average_rate else 0.0
        return MediaInfo(path, video is not None, audio is not None, duration, fps,
                         video.codec_context.width if video is not None else 0,
                         video.codec_context.height if video is not None else 0)


class MediaFileSource(CaptureSource):
    """Decode a file's video frames (BGR) and audio (16 kHz mono float32) in presentation order.

    ``iter_media()`` yields file-time stamped items (t = seconds from the start of the file) and is
    what offline analysis consumes directly; as a thread, the same items are shifted onto the session
    clock, paced in real time when ``realtime`` is True, and written into the rings.
    """

    name = SourceKind.FILE

    def __init__(self, path: str | Path, clock: SessionClock, frames: FrameRing | None = None,
                 audio: AudioRing | None = None, realtime: bool = True, loop: bool = False,
                 max_width: int = 640, on_event: EventSink | None = None) -> None:
        super().__init__(clock, on_event)
        self.path = Path(path)
        self.info = probe_media(self.path)
        if not self.info.has_video:
            log.warning("%s has no video track: audio only", self.path)
        if not self.info.has_audio:
            log.warning("%s has no audio track: video only", self.path)
        self.frames, self.audio = frames, audio
        self.realtime, self.loop, self.max_width = realtime, loop, max_width

    @property
    def gives_pictures(self) -> bool:
        return self.info.has_video

    def iter_media(self, images_from: int = 0, step_s: float | None = None,
                   video: bool = True) -> Iterator[VideoFrame | AudioBlock]:
        """Every video frame and audio block in presentation order, stamped from the file's start.

        Frames numbered below ``images_from`` are decoded (the codec needs them) but not converted: their image is
        an empty array (a resumed analysis discards them). With ``step_s`` (offline analysis: steps at every
        multiple of it) only the frames a step reads are converted, the newest at or before some step's time: a
        frame is yielded once the next one is decoded (or the stream ends), with an empty image when no step falls
        between the two; at 30 fps and 10 steps per second that is one frame in three. Converting a frame costs
        more than decoding it (the demo: 1.0-1.3 s against 0.24 s for all its 429 frames).
        ``video=False``: the audio blocks only (the video is neither decoded nor yielded), stamped as with it.
        """
        import av

        no_image = frozen_array(np.zeros((0, 0, 3), np.uint8))  # a frame decoded but not converted
        with _open(self.path) as container:
            both = [s for s in (container.streams.video[:1] + container.streams.audio[:1])]
            streams = both if video else list(container.streams.audio[:1])
            for s in streams:
                s.thread_type = "AUTO"
            start = min((float(s.start_time * s.time_base) for s in both if s.start_time is not None), default=0.0)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            audio_t0: float | None = None
            audio_samples = 0
            frame_index = 0
            bad = 0
            held: tuple[Any, float, int] | None = None  # (av frame, file time, index) waiting for the next one

            def release(after: float) -> VideoFrame:
                frame, t, index = held
                read = index >= images_from and (step_s is None or _step_between(t, after, step_s))
                return VideoFrame(t=t, index=index, image=self._image(frame) if read else no_image)

            for packet in container.demux(streams):
                try:
                    decoded = packet.decode()
                except (av.FFmpegError, ValueError) as exc:
                    bad += 1
                    log.warning("%s: skipping a damaged packet (%s)", self.path, exc)
                    if bad > MAX_BAD_PACKETS:
                        raise MediaError(f"{self.path} is corrupt: more than {MAX_BAD_PACKETS} bad packets") from None
                    continue
                for frame in decoded:
                    if isinstance(frame, av.VideoFrame):
                        t = (float(frame.time) if frame.time is not None else frame_index / (self.info.fps or 30))
                        if step_s is None:
                            image = self._image(frame) if frame_index >= images_from else no_image
                            yield VideoFrame(t=t - start, index=frame_index, image=image)
                        else:
                            if held is not None:
                                yield release(t - start)
                            held = (frame, t - start, frame_index)
                        frame_index += 1
                    elif isinstance(frame, av.AudioFrame):
                        if audio_t0 is None:
                            audio_t0 = (float(frame.time) if frame.time is not None else start) - start
                        for out in resampler.resample(frame):
                            block = self._audio_block(out, audio_t0, audio_samples)
                            audio_samples += block.samples.size
                            yield block
            if held is not None:
                yield release(float("inf"))
            if audio_t0 is not None:
                for out in resampler.resample(None):
                    block = self._audio_block(out, audio_t0, audio_samples)
                    audio_samples += block.samples.size
                    yield block

    def _image(self, frame) -> np.ndarray:
        width, height = frame.width, frame.height
        if width > self.max_width:
            height = int(round(height * self.max_width / width / 2) * 2)
            frame = frame.reformat(width=self.max_width, height=height)
        return frozen_array(frame.to_ndarray(format="bgr24"))  # shared by capture, worker and GUI threads

    @staticmethod
    def _audio_block(out, t0: float, offset: int) -> AudioBlock:
        samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        return AudioBlock(t=t0 + offset / SAMPLE_RATE, samples=samples, sample_rate=SAMPLE_RATE)

    def _run(self) -> None:
        last = 0.0  # file time reached (end of the last frame or audio block)
        while not self.stopping.is_set():
            offset = self.clock.now()
            last = 0.0
            for item in self.iter_media():
                if self.stopping.is_set():
                    return
                last = max(last, item.t + (item.duration if isinstance(item, AudioBlock) else 0.0))
                t = offset + item.t
                if self.realtime:
                    delay = t - self.clock.now()
                    if delay > 0 and self.stopping.wait(delay):
                        return
                if isinstance(item, VideoFrame):
                    if self.frames is not None:
                        self.frames.write(VideoFrame(t=t, index=item.index, image=item.image))
                elif self.audio is not None:
                    self.audio.write(AudioBlock(t=t, samples=item.samples, sample_rate=item.sample_rate))
            if not self.loop:
                break
        self.emit(EventKind.EOF, self.end_message(last))

    def end_message(self, reached_s: float) -> str:
        """The end-of-file event's message: the path, or how early it ended (truncated or damaged file)."""
        duration = self.info.duration
        if duration > 0 and reached_s < duration - max(0.5, 0.01 * duration):  # as offline analysis judges it
            return f"{self.path} ended early: played {reached_s:.1f} of {duration:.1f} s, truncated or damaged"
        return str(self.path)


def _step_between(t: float, after: float, step_s: float) -> bool:
    """Whether a step time k * step_s (k >= 1, rounded as offline analysis rounds it) lies in [t, after)."""
    k = max(1, math.ceil(round(t / step_s, 6) - 1e-9))
    return round(k * step_s, 6) < after
