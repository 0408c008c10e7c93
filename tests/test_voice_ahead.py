"""Offline analysis scores the voice windows in a thread of their own, ahead of the steps, with the same calls."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fakes import BrokenVoice, FakeFace, FakeText, FakeVoice, write_tone_clip

from emolive.config import AppConfig, InferenceConfig
from emolive.offline.analysis import analyze_file
from emolive.offline.voice_ahead import VoiceAhead
from emolive.recording import schema
from emolive.runtime.channels import Channels

LATENCY = schema.header().index("latency_ms")


class RecordingVoice(FakeVoice):
    """Every window asked about, in order, with the thread that asked; a running count makes each answer depend
    on the calls before it (like the running speaker statistics)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, int, float]] = []
        self.threads: set[str] = set()

    def process(self, samples: np.ndarray, t: float):
        self.calls.append((round(t, 6), samples.size, float(np.abs(samples).sum())))
        self.threads.add(threading.current_thread().name)
        out = super().process(samples, t)
        return type(out)(**{**out.__dict__, "quality": len(self.calls) / 1000.0})


def run(clip, pipelined: bool, voice) -> list[list[str]]:
    rows: list[list[str]] = []
    channels = Channels(face=FakeFace(), voice=voice, text=FakeText())
    analyze_file(clip, AppConfig(), asr=False, channels=channels, pipelined=pipelined,
                 on_estimate=lambda e: rows.append([c for i, c in enumerate(schema.row(e)) if i != LATENCY]))
    return rows


def test_the_look_ahead_makes_the_step_wise_calls_and_rows(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4")
    reference, ahead = RecordingVoice(), RecordingVoice()
    expected = run(clip, False, reference)
    rows = run(clip, True, ahead)
    assert ahead.calls == reference.calls and len(ahead.calls) > 10  # same windows, same order
    assert ahead.threads == {"emolive-analysis-voice"}  # all of them in the look-ahead thread
    assert rows == expected


def test_a_failing_voice_channel_is_reported_by_the_worker_as_step_wise(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=3.0)
    assert run(clip, True, BrokenVoice()) == run(clip, False, BrokenVoice())


def test_a_window_out_of_step_is_scored_in_the_worker():
    voice = RecordingVoice()
    ahead = VoiceAhead(voice, InferenceConfig(), detect_every=2, stop=threading.Event())
    samples = np.full(16_000, 0.1, np.float32)
    out = ahead.process(samples, 1.0)  # nothing computed ahead (the thread never ran): scored here
    assert out.present and ahead.inline == 1 and voice.calls == [(1.0, 16_000, pytest.approx(1600.0, rel=1e-4))]


def test_the_look_ahead_holds_at_a_checkpoint_until_released():
    from emolive.core.contracts import AudioBlock

    voice = RecordingVoice()
    stop = threading.Event()
    # a window every 0.2 s, so that windows end on the checkpoints at 2 s and 4 s
    ahead = VoiceAhead(voice, InferenceConfig(voice_every=2), detect_every=2, stop=stop, hold_every_s=2.0)
    ahead.thread.start()
    try:
        audio = np.full(16_000 * 5, 0.1, np.float32)
        for start in range(0, audio.size, 1600):
            ahead.put(AudioBlock(start / 16_000, audio[start:start + 1600], 16_000))
        ahead.finish(5.0)

        def latest(until: float) -> float:
            for _ in range(200):  # up to 10 s on a loaded machine
                if voice.calls and voice.calls[-1][0] >= until:
                    break
                threading.Event().wait(0.05)
            threading.Event().wait(0.3)  # time to go further, if it were not held
            return voice.calls[-1][0]

        assert latest(2.0) == pytest.approx(2.0)  # held at the first checkpoint
        ahead.release()
        assert latest(4.0) == pytest.approx(4.0)  # on to the next one, held there
        ahead.release()
        ahead.thread.join(5)
        assert max(t for t, _, _ in voice.calls) == pytest.approx(5.0)
    finally:
        stop.set()
