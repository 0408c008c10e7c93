"""Live: the voice windows scored on a thread of their own (``runtime.voice_background``), beside the hops."""

from __future__ import annotations

import threading

import numpy as np

from emolive.config import InferenceConfig
from emolive.core.contracts import AudioBlock
from emolive.core.rings import AudioRing, FrameRing
from emolive.fusion.fuser import Fuser
from emolive.runtime.worker import InferenceWorker
from tests.fakes import FakeVoice


class GatedVoice(FakeVoice):
    """Blocks in ``process`` until ``gate`` opens; records the windows it scored (their end times)."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.finished = threading.Event()
        self.seen: list[float] = []
        self.threads: set[str] = set()
        self.fail = fail

    def process(self, samples, t):
        self.started.set()
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5.0)
        self.seen.append(round(t, 3))
        self.finished.set()
        if self.fail:
            raise RuntimeError("encoder broke")
        return super().process(samples, t)


def live_worker(voice, on_error=None, **cfg):
    audio = AudioRing(10.0)
    audio.write(AudioBlock(0.0, np.full(8 * 16_000, 0.1, np.float32)))
    worker = InferenceWorker(FrameRing(30), audio, Fuser(smoothing_s=0), InferenceConfig(**cfg), voice=voice,
                             on_error=on_error, voice_in_background=True)
    worker.start_voice_thread()
    return worker


def voice_of(estimate):
    return next((m for m in estimate.modalities if m.modality == "voice"), None)


def test_a_hop_does_not_wait_for_the_voice_window_and_fuses_it_once_scored():
    voice = GatedVoice()
    worker = live_worker(voice)
    try:
        first = worker.step(3.0)
        assert voice.started.wait(2.0)
        assert not voice.finished.is_set()  # the hop came back while its window was still being scored
        assert voice_of(first) is None
        assert threading.current_thread().name not in voice.threads
        voice.gate.set()
        assert worker._voice_thread.wait_idle(5.0)
        later = worker.step(3.1)
        reading = voice_of(later)
        assert reading is not None and reading.present and reading.t == 3.0
        assert "voice" in dict(later.latency_ms)  # the window's compute time, reported when it lands
    finally:
        voice.gate.set()
        worker.stop_voice_thread()


def test_a_window_waiting_behind_a_busy_encoder_is_replaced_by_a_newer_one():
    voice = GatedVoice()
    worker = live_worker(voice, voice_every=1)
    try:
        worker.step(3.0)
        assert voice.started.wait(2.0)
        worker.step(3.1)
        worker.step(3.2)  # replaces the window of 3.1, never started
        voice.gate.set()
        assert worker._voice_thread.wait_idle(5.0)
        assert voice.seen == [3.0, 3.2]
        assert worker._voice_thread.replaced == 1
        assert voice_of(worker.step(3.3)).t == 3.2
    finally:
        voice.gate.set()
        worker.stop_voice_thread()


def test_an_error_in_the_voice_thread_is_reported_and_the_hops_go_on():
    voice = GatedVoice(fail=True)
    voice.gate.set()
    errors: list[str] = []
    worker = live_worker(voice, on_error=errors.append, voice_every=1)
    try:
        worker.step(3.0)
        assert worker._voice_thread.wait_idle(5.0)
        estimate = worker.step(3.1)
        reading = voice_of(estimate)
        assert reading is not None and not reading.present and "encoder broke" in reading.reason
        assert errors == ["voice channel failed: encoder broke"]
        assert worker._voice_thread.wait_idle(5.0)
        worker.step(3.2)
        assert errors == ["voice channel failed: encoder broke"]  # reported once
    finally:
        worker.stop_voice_thread()


def test_swapped_models_get_their_own_voice_thread_and_stopping_ends_it():
    old, new = GatedVoice(), GatedVoice()
    old.gate.set()
    new.gate.set()
    worker = live_worker(old, voice_every=1)
    worker.step(3.0)
    assert worker._voice_thread.wait_idle(5.0)
    first_thread = worker._voice_thread
    worker.swap(face=None, voice=new, text=None, fuser=Fuser(smoothing_s=0))
    assert not first_thread.is_alive()
    worker.step(3.1)
    assert worker._voice_thread.wait_idle(5.0)
    assert old.seen == [3.0] and new.seen == [3.1]
    assert voice_of(worker.step(3.2)).t == 3.1
    background = worker._voice_thread
    worker.stop_voice_thread()
    assert not background.is_alive()


def test_the_live_thread_starts_and_stops_the_voice_thread():
    voice = GatedVoice()
    voice.gate.set()
    audio = AudioRing(10.0)
    worker = InferenceWorker(FrameRing(30), audio, Fuser(smoothing_s=0), InferenceConfig(hop_s=0.05), voice=voice,
                             voice_in_background=True)
    worker.start()
    assert worker._voice_thread is not None and worker._voice_thread.is_alive()
    background = worker._voice_thread
    worker.stop()
    worker.join(5.0)
    assert not worker.is_alive() and not background.is_alive()


def test_without_the_voice_thread_the_window_is_scored_in_the_hop():
    voice = GatedVoice()
    voice.gate.set()
    audio = AudioRing(10.0)
    audio.write(AudioBlock(0.0, np.full(8 * 16_000, 0.1, np.float32)))
    worker = InferenceWorker(FrameRing(30), audio, Fuser(smoothing_s=0), InferenceConfig(), voice=voice)
    estimate = worker.step(3.0)
    assert voice.seen == [3.0] and voice_of(estimate).t == 3.0
    assert threading.current_thread().name in voice.threads
