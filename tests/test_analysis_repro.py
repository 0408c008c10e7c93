"""Offline analysis with transcription is reproducible: commits depend on the file's clock, not the CPU."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
from fakes import EnergyVAD, FakeFace, FakeText, FakeVoice, ScriptedDecoder, write_tone_clip

from emolive.config import AppConfig
from emolive.core.contracts import AudioBlock, TranscriptSegment
from emolive.offline.analysis import analyze_file, make_stream
from emolive.offline.pipelined import _END, Transcription
from emolive.recording import schema
from emolive.runtime.channels import Channels

LATENCY = schema.header().index("latency_ms")


def analyse(clip, delay_s: float):
    config = AppConfig()
    decoder = ScriptedDecoder(delay_s)
    stream = make_stream(decoder, config.asr, vad=EnergyVAD())
    rows, segments = [], []
    channels = Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText())
    analyze_file(clip, config, channels=channels, stream=stream, on_segment=segments.append,
                 on_estimate=lambda e: rows.append([c for i, c in enumerate(schema.row(e)) if i != LATENCY]))
    return rows, segments, decoder.calls


def test_two_runs_with_transcription_agree_even_when_the_decoder_is_slow(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4")
    fast_rows, fast_segments, fast_calls = analyse(clip, 0.0)
    slow_rows, slow_segments, slow_calls = analyse(clip, 0.7)  # slower than interval_s * max_duty: live waits longer
    assert any(s.committed for s in fast_segments)
    assert any(row[schema.header().index("transcript")] for row in fast_rows)
    assert fast_calls == slow_calls
    assert [(s.text, s.committed, s.t_emitted) for s in fast_segments] == \
        [(s.text, s.committed, s.t_emitted) for s in slow_segments]
    assert fast_rows == slow_rows


class OneSegmentPerBlock:
    """A stream that emits one committed segment per block it is stepped on, and one more when closed."""

    def __init__(self) -> None:
        self.t = 0.0

    def feed(self, block: AudioBlock) -> None:
        self.t = block.t + block.duration

    def step(self, now: float) -> list[TranscriptSegment]:
        return [TranscriptSegment(f"w{now:.1f}", now - 0.1, now, True, 0.9, (), now)]

    def finish(self, now: float) -> list[TranscriptSegment]:
        return [TranscriptSegment("last", now, now, True, 0.9, (), now)]


def test_closing_the_transcriber_drops_nothing_the_steps_have_not_collected():
    """The transcriber thread reaches the end of the media while the steps are still behind: the segments it
    published before closing still reach the steps (closing used to drain them in its own thread)."""
    run = SimpleNamespace(asr_every=0.1, snapshots=None, resume=None)
    blocks = [AudioBlock(0.1 * i, np.zeros(1600, np.float32)) for i in range(5)]
    asr = Transcription(OneSegmentPerBlock(), run, threading.Event(), blocks)
    asr.blocks.put((_END, 0.5))
    asr.thread.start()
    asr.thread.join(timeout=10)
    assert not asr.thread.is_alive()
    assert [s.text for s in asr.wait_until(float("inf"))] == ["w0.1", "w0.2", "w0.3", "w0.4", "w0.5", "last"]


def test_text_reaches_the_rows_no_earlier_than_it_was_emitted(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4")
    rows, segments, _ = analyse(clip, 0.0)
    first_commit = min(s.t_emitted for s in segments if s.committed and s.text)
    t_col, text_col = schema.header().index("t"), schema.header().index("transcript")
    first_row = min(float(r[t_col]) for r in rows if r[text_col])
    assert first_commit <= first_row < first_commit + AppConfig().inference.hop_s + 1e-6


def rows_with(clip, config, channels, pipelined: bool, delay_s: float = 0.0):
    stream = make_stream(ScriptedDecoder(delay_s), config.asr, vad=EnergyVAD())
    rows = []
    analyze_file(clip, config, channels=channels, stream=stream, pipelined=pipelined,
                 on_estimate=lambda e: rows.append([c for i, c in enumerate(schema.row(e)) if i != LATENCY]))
    return rows


def test_pipelined_analysis_equals_the_stepwise_reference(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4")
    config = AppConfig()
    reference = rows_with(clip, config, Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText()), False)
    fast = rows_with(clip, config, Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText()), True, 0.05)
    assert any(r[schema.header().index("transcript")] for r in reference)
    assert fast == reference


def test_pipelined_equals_stepwise_on_the_demo_clip_with_the_real_models(demo_clip):
    """The shipped face, voice and text models (transcription scripted): the same rows, exactly (tolerance 0)."""
    from emolive.runtime.channels import load_channels

    config = AppConfig()
    channels = load_channels(config.inference)
    reference = rows_with(demo_clip, config, channels, False)
    channels.face.reset()
    fast = rows_with(demo_clip, config, channels, True)
    assert len(reference) == 142 and fast == reference
