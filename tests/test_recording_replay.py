"""Raw capture (WAV + MP4 on the session clock), replay of a bundle, and the sessions/replay commands."""

from __future__ import annotations

import json
import sys
import types
import wave
from pathlib import Path

import numpy as np
import pytest
from fakes import make_estimate

from emolive.capture.media_file import MediaFileSource
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, VideoFrame
from emolive.core.rings import AudioRing, FrameRing
from emolive.recording import RecordingError, SessionRecorder, list_sessions, read_csv
from emolive.recording.raw import WavTrack
from emolive.recording.replay import replay_session

SR = 16_000
FPS = 30
ORIGIN = 5.0  # session time when recording starts
VIDEO_DELAY = 0.2  # the first frame arrives this long after the start
BEEP_AT = ORIGIN + 1.0
N_FRAMES = 60


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def level_of(image: np.ndarray) -> float:
    return float(image.mean()) / 255.0


def frame_image(i: int) -> np.ndarray:
    level = (i % 7) / 7 + 0.07  # a different dominant class per frame, far apart in gray level
    return np.full((48, 64, 3), int(level * 255), np.uint8)


def audio_block(t: float, seconds: float = 0.1) -> AudioBlock:
    n = int(round(seconds * SR))
    times = t + np.arange(n) / SR
    samples = np.where(np.abs(times - BEEP_AT) < 0.05, 0.5 * np.sin(2 * np.pi * 440 * times), 0.0)
    return AudioBlock(t=t, samples=samples.astype(np.float32))


@pytest.fixture(autouse=True)
def no_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLIVE_ASSETS", str(tmp_path / "no-assets"))


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A session recorded from rings: 2 s of frames (first one late), audio with a beep, two markers."""
    clock = FakeClock(ORIGIN)
    frames, audio = FrameRing(), AudioRing()
    recorder = SessionRecorder(clock=clock, root=tmp_path / "sessions", raw_audio=True, raw_video=True,
                               frame_ring=frames, audio_ring=audio)
    folder = recorder.start()
    for k in range(22):
        audio.write(audio_block(ORIGIN + 0.1 * k))
    for i in range(N_FRAMES):
        t = ORIGIN + VIDEO_DELAY + i / FPS
        image = frame_image(i)
        frames.write(VideoFrame(t=t, index=i, image=image))
        recorder.write(make_estimate(t, level=level_of(image)))  # a "live model" that reads the frame
    recorder.add_marker("start", t=ORIGIN + 0.5)
    recorder.add_marker("end", t=ORIGIN + 1.9)
    recorder.stop()
    return folder


def frame_analyzer(seen_audio: list[AudioBlock] | None = None):
    """The same stand-in model, offline: one estimate per decoded frame at the file's time."""

    def analyze(media: Path, on_estimate) -> None:
        for item in MediaFileSource(media, SessionClock(), realtime=False).iter_media():
            if isinstance(item, VideoFrame):
                on_estimate(make_estimate(item.t, level=level_of(item.image)))
            elif seen_audio is not None:
                seen_audio.append(item)

    return analyze


def test_raw_files_follow_the_session_clock(bundle):
    meta = json.loads((bundle / "session.json").read_text())
    assert meta["raw"]["audio"]["start_session_s"] == ORIGIN
    assert meta["raw"]["video"]["start_session_s"] == pytest.approx(ORIGIN + VIDEO_DELAY)
    assert meta["raw"]["video"]["frames"] == N_FRAMES
    with wave.open(str(bundle / "audio.wav"), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    loud = np.flatnonzero(np.abs(samples) > 1000)
    assert abs(loud[0] / SR - (BEEP_AT - ORIGIN - 0.05)) < 0.002


def test_replay_reproduces_the_recorded_estimates(bundle):
    seen_audio: list[AudioBlock] = []
    summary = replay_session(bundle, frame_analyzer(seen_audio))
    assert summary.output == bundle / "replay.csv"
    assert summary.rows == N_FRAMES and summary.markers == 2
    assert summary.note == ""  # both tracks kept: nothing the comparison cannot see
    agreement = summary.agreement
    assert agreement["matched"] == N_FRAMES and agreement["dominant_agreement"] == 1.0
    assert agreement["max_abs_diff"] < 1e-6

    recorded = [r for r in read_csv(bundle / "session.csv") if not r["marker"]]
    replayed = read_csv(summary.output)
    estimates = [r for r in replayed if not r["marker"]]
    assert [r["t"] for r in estimates] == pytest.approx([r["t"] for r in recorded], abs=2e-3)
    assert [r["marker"] for r in replayed if r["marker"]] == ["start", "end"]
    times = [r["t"] for r in replayed]
    assert times == sorted(times)

    # The audio came back on the session clock too: the audio track starts first, so file time 0 is the
    # recording's start, and the beep is where it was recorded.
    audio = np.concatenate([b.samples for b in seen_audio])
    loud = np.flatnonzero(np.abs(audio) > 0.03)
    assert abs(ORIGIN + seen_audio[0].t + loud[0] / SR - (BEEP_AT - 0.05)) < 0.005


def test_replay_never_overwrites_and_honours_output(bundle, tmp_path):
    first = replay_session(bundle, frame_analyzer()).output
    second = replay_session(bundle, frame_analyzer()).output
    chosen = replay_session(bundle, frame_analyzer(), output=tmp_path / "out.csv").output
    assert (first.name, second.name, chosen) == ("replay.csv", "replay-2.csv", tmp_path / "out.csv")


def test_replay_refuses_sessions_without_raw_capture(tmp_path):
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, raw_audio=False, raw_video=False)
    folder = recorder.start()
    recorder.stop()
    with pytest.raises(RecordingError, match="no raw capture"):
        replay_session(folder, frame_analyzer())
    with pytest.raises(RecordingError, match="not a recorded session"):
        replay_session(tmp_path, frame_analyzer())
    with pytest.raises(RecordingError, match="not found"):
        replay_session(tmp_path / "missing", frame_analyzer())


def test_wav_track_keeps_gaps_and_skips_overlaps(tmp_path):
    track = WavTrack(tmp_path / "a.wav", origin=1.95)
    track.write(AudioBlock(t=1.9, samples=np.full(1600, 0.5, np.float32)))  # starts at the origin
    track.write(AudioBlock(t=2.0, samples=np.full(1600, 0.5, np.float32)))
    track.write(AudioBlock(t=2.1 + 0.005, samples=np.full(1600, 0.5, np.float32)))  # jitter: contiguous
    track.write(AudioBlock(t=2.7, samples=np.full(1600, 0.5, np.float32)))  # 0.4 s gap -> silence
    track.write(AudioBlock(t=2.75, samples=np.full(1600, 0.25, np.float32)))  # half overlaps
    track.close()
    with wave.open(str(tmp_path / "a.wav"), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert track.start == 1.95 and samples.size == int(0.9 * SR)  # 1.95 s to 2.85 s
    assert np.all(samples[:4000] > 0) and np.all(samples[4000:12000] == 0) and samples[12000] > 0
    assert samples[-1] == int(0.25 * 32767) and track.gap_samples == 8000


def test_rings_without_a_clock_start_at_the_newest_data(tmp_path):
    frames, audio = FrameRing(), AudioRing()
    for k in range(50):  # 5 s of history before recording starts
        audio.write(AudioBlock(t=100.0 + 0.1 * k, samples=np.zeros(1600, np.float32)))
    recorder = SessionRecorder(root=tmp_path, raw_audio=True, frame_ring=frames, audio_ring=audio)
    folder = recorder.start()
    import time

    time.sleep(0.3)  # let the capture thread take its first look at the ring
    audio.write(AudioBlock(t=105.0, samples=np.zeros(1600, np.float32)))
    recorder.stop()
    meta = json.loads((folder / "session.json").read_text())
    assert meta["raw"]["audio"]["start_session_s"] == pytest.approx(105.0)
    assert meta["raw"]["audio"]["seconds"] == pytest.approx(0.1)


def test_sessions_listing_and_command(bundle, capsys):
    from emolive.cli import main

    root = bundle.parent
    (root / "not-a-session").mkdir()
    sessions = list_sessions(root)
    assert [s.name for s in sessions] == [bundle.name]
    info = sessions[0]
    assert info.complete and info.rows == N_FRAMES and info.markers == 2 and info.raw_audio and info.raw_video
    assert info.duration_s == pytest.approx((N_FRAMES - 1) / FPS, abs=1e-3)  # first to last row
    assert info.size_bytes > (bundle / "audio.wav").stat().st_size

    assert main(["sessions", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert bundle.name in out and "audio+video" in out and "1 session(s)" in out
    assert main(["sessions", "--root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sessions"][0]["rows"] == N_FRAMES
    assert main(["sessions", "--root", str(root / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def test_killed_session_is_listed_as_incomplete(tmp_path):
    folder = tmp_path / "20260101-000000"
    folder.mkdir()
    from emolive.recording import schema

    rows = [schema.header(), schema.row(make_estimate(1.0)), schema.row(make_estimate(4.5))]
    (folder / "session.csv").write_text(schema.format_rows(rows) + "4.6,0.1")
    (folder / "session.json").write_text(json.dumps({"started_utc": "2026-01-01T00:00:00+00:00"}))
    info = list_sessions(tmp_path)[0]
    assert not info.complete and info.duration_s == pytest.approx(3.5) and info.rows is None
    with pytest.raises(RecordingError):
        list_sessions(folder / "session.csv")
    assert list_sessions(tmp_path / "none") == []


def test_replay_command(bundle, tmp_path, monkeypatch, capsys):
    from emolive.cli import main

    calls = []

    def analyze_file(path, config, asr=True, on_estimate=None, **kwargs):
        calls.append(asr)
        frame_analyzer()(Path(path), on_estimate)

    monkeypatch.setitem(sys.modules, "emolive.offline.analysis", types.SimpleNamespace(analyze_file=analyze_file))
    out = tmp_path / "again.csv"
    assert main(["replay", str(bundle), "-o", str(out), "--no-asr", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert calls == [False] and summary["rows"] == N_FRAMES and summary["agreement"]["dominant_agreement"] == 1.0
    assert len(read_csv(out)) == N_FRAMES + 2
    assert main(["replay", str(tmp_path / "missing")]) == 2
    assert "session folder not found" in capsys.readouterr().err


def test_replay_of_a_recording_without_video_says_it_compares_voice_only(bundle):
    (bundle / "video.mp4").unlink()
    summary = replay_session(bundle, lambda media, on_estimate: None)
    assert "no video" in summary.note and "voice and words only" in summary.note
    assert summary.as_json()["note"] == summary.note
