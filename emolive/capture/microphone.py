"""A microphone through sounddevice (PortAudio): 16 kHz mono float32, resampled when the device can't."""

from __future__ import annotations

import logging
import queue

import numpy as np

from emolive.capture.base import CaptureSource, EventSink
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, EventKind, SourceKind
from emolive.core.errors import DeviceError
from emolive.core.rings import AudioRing

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
RECONNECT_EVERY_S = 2.0


def import_sounddevice():
    """sounddevice, or DeviceError when PortAudio is missing (Linux needs Debian's libportaudio2)."""
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError("audio is unavailable: the PortAudio library is missing "
                          "(on Debian/Ubuntu: apt-get install libportaudio2)") from exc
    return sounddevice


def input_devices() -> list[dict]:
    """Audio input devices as sounddevice describes them (empty list when there are none)."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from exc
    return [dict(d, index=i) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]


def resolve_input(device: str | int | None) -> tuple[int, dict]:
    """(index, info) of the requested input device: an index, part of a name, or None for the default."""
    sd = import_sounddevice()
    inputs = input_devices()
    if not inputs:
        raise DeviceError("no audio input device found (no microphone); run with --no-mic or --video FILE")
    if device is None or str(device).strip() == "":
        try:
            default = sd.default.device[0]
        except (TypeError, IndexError):
            default = -1
        match = next((d for d in inputs if d["index"] == default), inputs[0])
        return match["index"], match
    text = str(device).strip()
    if text.isdigit():
        match = next((d for d in inputs if d["index"] == int(text)), None)
    else:
        match = next((d for d in inputs if text.lower() in d["name"].lower()), None)
    if match is None:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in inputs)
        raise DeviceError(f"audio input {device!r} not found; available: {names}")
    return match["index"], match


class MicSource(CaptureSource):
    """Captures mono audio; the PortAudio callback only stamps and queues, this thread resamples + writes."""

    name = SourceKind.MICROPHONE

    def __init__(self, device: str | int | None, clock: SessionClock, audio: AudioRing,
                 block_ms: int = 20, on_event: EventSink | None = None) -> None:
        super().__init__(clock, on_event)
        self.device = device
        self.audio = audio
        self.block_ms = block_ms
        self._queue: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(maxsize=500)
        self.index, self.info = resolve_input(device)  # fail early, in the caller's thread
        self.device_rate = self._pick_rate()
        self.overflows = 0

    def _pick_rate(self) -> int:
        sd = import_sounddevice()
        try:
            sd.check_input_settings(device=self.index, channels=1, samplerate=SAMPLE_RATE, dtype="float32")
            return SAMPLE_RATE
        except sd.PortAudioError:
            rate = int(self.info.get("default_samplerate") or 48_000)
            log.info("input %r cannot record at 16 kHz; recording at %d Hz and resampling", self.info["name"], rate)
            return rate

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread: stamp and copy only
        t = self.clock.now() - frames / self.device_rate
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait((t, indata[:, 0].copy()))
        except queue.Full:
            self.overflows += 1

    def _open_stream(self):
        sd = import_sounddevice()
        stream = sd.InputStream(device=self.index, channels=1, samplerate=self.device_rate, dtype="float32",
                                blocksize=int(self.device_rate * self.block_ms / 1000), callback=self._callback)
        stream.start()
        return stream

    def _run(self) -> None:
        import av

        sd = import_sounddevice()
        resampler = None
        if self.device_rate != SAMPLE_RATE:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        stream = None
        try:
            while not self.stopping.is_set():
                if stream is None or not stream.active:
                    if stream is not None:
                        self.emit(EventKind.ERROR, f"audio input {self.info['name']!r} stopped; retrying")
                        stream.close(ignore_errors=True)
                        stream = None
                    try:
                        stream = self._open_stream()
                    except (sd.PortAudioError, OSError) as exc:
                        self.emit(EventKind.ERROR, f"cannot open audio input {self.info['name']!r}: {exc}")
                        if self.stopping.wait(RECONNECT_EVERY_S):
                            return
                        continue
                try:
                    t, samples = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if resampler is not None:
                    samples = self._resample(resampler, samples)
                if samples.size:
                    self.audio.write(AudioBlock(t=t, samples=samples, sample_rate=SAMPLE_RATE))
        finally:
            if stream is not None:
                stream.close(ignore_errors=True)

    def _resample(self, resampler, samples: np.ndarray) -> np.ndarray:
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.device_rate
        out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
