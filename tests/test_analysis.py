"""Offline analysis runs the live step on file time: deterministic, one row per hop, CSV schema."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
from fakes import FakeFace, FakeText, FakeVoice
from helpers.media import write_sync_clip

from emolive.config import AppConfig
from emolive.core.contracts import TranscriptSegment
from emolive.offline.analysis import analyze_file
from emolive.runtime.channels import Channels


class ScriptedStream:
    """A stand-in for the streaming transcriber: commits one sentence at 1.0 s of audio."""

    def __init__(self):
        self.done = False

    def feed(self, block):
        self.end = block.t + block.duration

    def step(self, now):
        if not self.done and now >= 1.0:
            self.done = True
            return [TranscriptSegment("what a lovely day", 0.2, 0.9, committed=True, confidence=0.9, t_emitted=now)]
        return []

    def finish(self, now):
        return []


def run(clip, stream=None):
    estimates = []
    channels = Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText())
    summary = analyze_file(clip, AppConfig(), asr=stream is not None, channels=channels, stream=stream,
                           on_estimate=estimates.append)
    return summary, estimates


def test_one_estimate_per_hop_in_time_order_and_deterministic(tmp_path):
    clip = write_sync_clip(tmp_path / "c.mp4", seconds=3.0)
    summary, first = run(clip)
    _, second = run(clip)
    assert summary.steps == len(first) == 30
    times = [e.t for e in first]
    assert np.allclose(times, np.arange(1, 31) * 0.1)
    assert [e.dominant for e in first] == [e.dominant for e in second]
    assert [e.emotion for e in first] == [e.emotion for e in second]


def test_transcript_reaches_the_text_channel_and_the_rows(tmp_path):
    clip = write_sync_clip(tmp_path / "c.mp4", seconds=2.0)
    summary, estimates = run(clip, ScriptedStream())
    with_text = [e for e in estimates if e.transcript]
    assert len(with_text) == 1 and with_text[0].transcript == "what a lovely day"
    assert with_text[0].t >= 1.0
    assert any(e.modality("text") is not None for e in estimates if e.t >= 1.0)
    assert summary.transcript == ["what a lovely day"]


def test_video_only_file_is_analysed_without_voice(tmp_path):
    clip = write_sync_clip(tmp_path / "v.mp4", seconds=1.0, audio=False)
    summary, estimates = run(clip)
    assert summary.steps == 10
    assert all(e.modality("voice") is None for e in estimates)


def test_analyze_cli_writes_the_shared_csv_schema(tmp_path, demo_clip):
    from emolive.recording import schema

    out = tmp_path / "demo.csv"
    result = subprocess.run([sys.executable, "-m", "emolive", "analyze", str(demo_clip), "-o", str(out),
                             "--no-asr", "--no-progress", "--summary", "--set", "inference.hop_s=0.5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == schema.header()
    assert 25 <= len(rows) - 1 <= 30  # 14.3 s at one step per 0.5 s
    assert "time share" in result.stdout


def test_analysis_caps_the_blas_threads_that_would_spin_beside_its_own(tmp_path):
    """Idle BLAS threads spin between calls and take the cores the pipeline's threads need: analyze caps them to
    ``inference.threads`` as the live pipeline does."""
    from threadpoolctl import threadpool_info, threadpool_limits

    clip = write_sync_clip(tmp_path / "c.mp4", seconds=1.0)
    with threadpool_limits(limits=2):  # restored when the test ends
        run(clip)
        pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert pools and all(p["num_threads"] == 1 for p in pools)
