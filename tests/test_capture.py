"""Capture sources: one clock, A/V alignment, pacing, stand-ins, and clear errors on bad input."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.media import FLASH_EVERY_S, write_sync_clip

from emolive.capture import CameraSource, MediaFileSource, MicSource, SyntheticSource, probe_media
from emolive.capture import microphone as mic_module
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, VideoFrame
from emolive.core.errors import DeviceError, MediaError
from emolive.core.rings import AudioRing, FrameRing


def onsets(flags: np.ndarray, times: np.ndarray) -> list[float]:
    rising = np.flatnonzero(flags[1:] & ~flags[:-1]) + 1
    return [float(times[i]) for i in rising]


def test_file_source_audio_and_video_stay_within_one_frame_over_60_s(sync_clip):
    frame_times, brightness, audio = [], [], []
    audio_t0 = None
    for item in MediaFileSource(sync_clip, SessionClock(), realtime=False).iter_media():
        if isinstance(item, VideoFrame):
            frame_times.append(item.t)
            brightness.append(item.image.mean())
        else:
            if audio_t0 is None:
                audio_t0 = item.t
            audio.append(item.samples)
    samples = np.concatenate(audio)
    assert samples.dtype == np.float32
    assert len(frame_times) == 1800
    assert samples.size == pytest.approx(60 * 16_000, rel=0.01)  # 44.1 kHz stereo -> 16 kHz mono
    flashes = onsets(np.asarray(brightness) > 128, np.asarray(frame_times))
    envelope = np.abs(samples) > 0.1
    beeps = onsets(envelope, audio_t0 + np.arange(samples.size) / 16_000)
    # merge beep onsets closer than 0.2 s (the sine crosses zero inside a beep)
    merged = [b for i, b in enumerate(beeps) if i == 0 or b - beeps[i - 1] > 0.2]
    expected = [FLASH_EVERY_S * k for k in range(1, 12)]
    assert len(flashes) == len(expected) and len(merged) == len(expected)
    for flash, beep, want in zip(flashes, merged, expected, strict=True):
        assert abs(flash - want) < 1 / 30
        assert abs(beep - flash) < 1 / 30, f"audio and video drifted apart at {want} s"


def test_realtime_file_source_paces_and_stamps_on_the_session_clock(demo_clip):
    clock = SessionClock()
    frames, audio = FrameRing(90), AudioRing(10.0)
    events = []
    source = MediaFileSource(demo_clip, clock, frames, audio, realtime=True, on_event=events.append)
    source.start()
    time.sleep(1.5)
    now = clock.now()
    source.stop()
    source.join(2.0)
    latest = frames.latest()
    assert latest is not None
    assert 1.0 < latest.t <= now + 0.05, "frames are stamped on the session clock, paced in real time"
    assert abs(audio.end_time - latest.t) < 0.25
    assert 25 <= frames.written <= 55  # about 1.5 s at 30 fps, not the whole clip at once


def test_file_with_only_video_or_only_audio_still_works(tmp_path):
    video_only = write_sync_clip(tmp_path / "v.mp4", seconds=2, audio=False)
    audio_only = write_sync_clip(tmp_path / "a.m4a", seconds=2, video=False)
    assert probe_media(video_only).has_audio is False
    items = list(MediaFileSource(video_only, SessionClock(), realtime=False).iter_media())
    assert items and all(isinstance(i, VideoFrame) for i in items)
    info = probe_media(audio_only)
    assert info.has_audio and not info.has_video
    items = list(MediaFileSource(audio_only, SessionClock(), realtime=False).iter_media())
    assert items and all(isinstance(i, AudioBlock) for i in items)


def test_missing_and_corrupt_files_raise_media_error(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        probe_media(tmp_path / "nope.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError):
        MediaFileSource(corrupt, SessionClock())
    with pytest.raises(MediaError):
        probe_media(tmp_path)  # a folder


def test_truncated_file_gives_what_it_has(tmp_path, demo_clip):
    full = list(MediaFileSource(demo_clip, SessionClock(), realtime=False).iter_media())
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(demo_clip.read_bytes()[:60_000])  # the first ~17 % of the file
    items = list(MediaFileSource(truncated, SessionClock(), realtime=False).iter_media())
    frames = [i for i in items if isinstance(i, VideoFrame)]
    assert len(frames) >= 10 and [f.index for f in frames] == list(range(len(frames)))
    assert any(isinstance(i, AudioBlock) for i in items)
    assert 0 < items[-1].t < full[-1].t / 2  # the start of the clip, not all of it
    np.testing.assert_array_equal(frames[0].image, next(i for i in full if isinstance(i, VideoFrame)).image)


def test_frames_are_read_only_where_they_are_made(demo_clip):
    made = [next(i for i in source.iter_media() if isinstance(i, VideoFrame))
            for source in (MediaFileSource(demo_clip, SessionClock(), realtime=False),
                           SyntheticSource(SessionClock(), seconds=0.2, realtime=False))]
    for frame in made:  # capture, worker and GUI threads share one image: nobody may write into it
        assert not frame.image.flags.writeable
        with pytest.raises(ValueError):
            frame.image[0, 0, 0] = 1


def test_synthetic_source_is_deterministic_and_fills_rings():
    a = list(SyntheticSource(SessionClock(), seconds=0.5, realtime=False).iter_media())
    b = list(SyntheticSource(SessionClock(), seconds=0.5, realtime=False).iter_media())
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.t == y.t
        data_x = x.image if isinstance(x, VideoFrame) else x.samples
        data_y = y.image if isinstance(y, VideoFrame) else y.samples
        np.testing.assert_array_equal(data_x, data_y)
    clock = SessionClock()
    frames, audio = FrameRing(60), AudioRing(5.0)
    source = SyntheticSource(clock, frames, audio, seconds=0.6, audio="noise", realtime=True)
    source.start()
    assert source.finished.wait(5.0)
    assert frames.written == 18
    assert audio.written == pytest.approx(0.6 * 16_000, abs=320)


def test_camera_that_does_not_exist_raises_device_error():
    with pytest.raises(DeviceError, match="camera"):
        CameraSource(97, SessionClock(), FrameRing(5))


def test_no_audio_device_at_all_raises_device_error(monkeypatch):
    monkeypatch.setattr(mic_module, "input_devices", lambda: [])
    with pytest.raises(DeviceError, match="no audio input device"):
        MicSource(None, SessionClock(), AudioRing(1.0))


def test_unknown_microphone_name_lists_the_available_ones(monkeypatch):
    monkeypatch.setattr(mic_module, "input_devices",
                        lambda: [{"index": 3, "name": "USB Mic", "max_input_channels": 1}])
    with pytest.raises(DeviceError, match="3: USB Mic"):
        mic_module.resolve_input("Studio")


class _FakeStream:
    """A PortAudio stream that delivers a few blocks, then stops as if the device was unplugged."""

    def __init__(self, callback, blocksize, **_):
        self.callback, self.blocksize, self.active = callback, blocksize, False

    def start(self):
        self.active = True

        def feed():
            status = type("S", (), {"input_overflow": False})()
            for _ in range(5):
                self.callback(np.full((self.blocksize, 1), 0.1, np.float32), self.blocksize, None, status)
                time.sleep(0.01)
            self.active = False

        threading.Thread(target=feed, daemon=True).start()

    def close(self, ignore_errors=True):
        self.active = False


class _FakeSoundDevice:
    class PortAudioError(Exception):
        pass

    InputStream = _FakeStream

    @staticmethod
    def check_input_settings(**_):
        return None


def test_audio_device_that_disappears_mid_run_is_reported_not_fatal(monkeypatch):
    monkeypatch.setattr(mic_module, "import_sounddevice", lambda: _FakeSoundDevice)
    monkeypatch.setattr(mic_module, "input_devices",
                        lambda: [{"index": 0, "name": "Fake Mic", "max_input_channels": 1}])
    monkeypatch.setattr(mic_module, "RECONNECT_EVERY_S", 0.05)
    events = []
    ring = AudioRing(2.0)
    source = MicSource(0, SessionClock(), ring, on_event=events.append)
    source.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(e.kind == "error" for e in events):
        time.sleep(0.05)
    source.stop()
    source.join(2.0)
    assert any(e.kind == "error" and "stopped" in e.message for e in events)
    assert ring.written >= 5 * 320  # what arrived before the loss was kept
    assert not source.is_alive()


def test_exception_inside_a_source_thread_becomes_an_error_event(tmp_path):
    class Broken(SyntheticSource):
        def iter_media(self):
            raise RuntimeError("decoder exploded")
            yield  # pragma: no cover

    events = []
    source = Broken(SessionClock(), seconds=0.1, on_event=events.append)
    source.start()
    assert source.finished.wait(2.0)
    assert events and events[-1].kind == "error" and "decoder exploded" in events[-1].message


def test_media_file_source_reports_eof(tmp_path):
    clip = write_sync_clip(tmp_path / "short.mp4", seconds=0.5)
    events = []
    source = MediaFileSource(clip, SessionClock(), FrameRing(30), AudioRing(2.0), realtime=False,
                             on_event=events.append)
    source.start()
    assert source.finished.wait(5.0)
    assert [e.kind for e in events] == ["eof"]
    assert isinstance(Path(events[0].message), Path)
