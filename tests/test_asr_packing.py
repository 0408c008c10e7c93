"""Offline transcription in packed Whisper passes: words go back to the utterance they were spoken in, each
utterance keeps its commit time, and the rows of a packed analysis are the same pipelined and step-wise."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from fakes import EnergyVAD, FakeFace, FakeText, FakeVoice, write_tone_clip

from emolive.asr.decoder import WhisperDecoder
from emolive.asr.packing import GAP_S, join, layout, piece_figures, split_words
from emolive.asr.streaming import StreamConfig, StreamingTranscriber
from emolive.config import AppConfig, AsrConfig
from emolive.core.contracts import AudioBlock, Word
from emolive.offline.analysis import analyze_file, make_stream, offline_stream_config
from emolive.recording import schema
from emolive.runtime.channels import Channels

SR = 16_000


def loud_runs(audio: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch of loud samples (pauses under 20 ms bridged)."""
    loud = np.flatnonzero(np.abs(np.asarray(audio)) > 0.05)
    if loud.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(loud) > 0.02 * SR)
    starts = np.concatenate([[loud[0]], loud[cuts + 1]])
    ends = np.concatenate([loud[cuts], [loud[-1]]]) + 1
    return [(a / SR, b / SR) for a, b in zip(starts, ends, strict=True)]


class ContentDecoder:
    """Decoder double: one word per loud stretch, named by its length (not its place in the buffer), so one pass
    over several utterances gives the same words as one pass each; packs like the Whisper decoder."""

    stateless = True
    packs = True

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        self.calls += 1
        return [Word(f"d{round((b - a) * 10)}", a, b, 0.9) for a, b in loud_runs(audio)]

    def decode_packed(self, pieces: list[np.ndarray], sample_rate: int = SR) -> list[tuple[list[Word], str]]:
        audio, offsets = join(pieces, int(GAP_S * sample_rate))
        spans = [(at / sample_rate, (at + p.size) / sample_rate) for at, p in zip(offsets, pieces, strict=True)]
        return [(words, "en") for words in split_words(self(audio), spans)]

    def reset(self) -> None:
        pass


def test_split_words_gives_each_word_to_the_piece_it_was_spoken_in():
    offsets = layout([16_000, 32_000, 8_000], 8_000)  # 1 s, 2 s, 0.5 s with 0.5 s gaps
    assert offsets == [0, 24_000, 64_000]
    spans = [(0.0, 1.0), (1.5, 3.5), (4.0, 4.5)]
    words = [Word("a", 0.1, 0.4, 0.9), Word("b", 0.8, 1.2, 0.9),  # middle 1.0: the first piece's last word
             Word("c", 1.3, 1.45, 0.9),  # in the gap, nearer the second piece
             Word("d", 3.2, 3.9, 0.9),  # middle 3.55: just past the second piece, nearer it
             Word("e", 4.1, 4.3, 0.9)]
    out = split_words(words, spans)
    assert [[w.text for w in piece] for piece in out] == [["a", "b"], ["c", "d"], ["e"]]
    b, c, d, e = out[0][1], out[1][0], out[1][1], out[2][0]
    assert (b.start, b.end) == (0.8, 1.0)  # clipped to its piece
    assert (c.start, c.end) == (0.0, 0.0)
    assert abs(d.start - 1.7) < 1e-9 and abs(d.end - 2.0) < 1e-9
    assert abs(e.start - 0.1) < 1e-9 and abs(e.end - 0.3) < 1e-9


def test_join_lays_the_pieces_out_with_silence_between():
    audio, offsets = join([np.ones(3, np.float32), 2 * np.ones(2, np.float32)], 4)
    assert offsets == [0, 7]
    assert audio.tolist() == [1, 1, 1, 0, 0, 0, 0, 2, 2]


class FakeWhisper:
    """``WhisperModel`` double: one Whisper segment per loud stretch of what it is given, each carrying the same
    window-wide figures (as faster-whisper reports them per 30 s window: here a repetitive window's compression
    ratio), word probabilities chosen per stretch length; and how often it was called."""

    def __init__(self, probability: dict[int, float]) -> None:
        self.model = SimpleNamespace(is_multilingual=False)
        self.probability = probability  # stretch length (tenths of a second) -> the word's probability
        self.calls = 0

    def transcribe(self, audio: np.ndarray, **_: object):
        self.calls += 1
        segments = []
        for a, b in loud_runs(audio):
            tenths = round((b - a) * 10)
            word = SimpleNamespace(word=f" w{tenths}", start=a, end=b, probability=self.probability.get(tenths, 0.9))
            segments.append(SimpleNamespace(start=a, end=b, words=[word], no_speech_prob=0.15, avg_logprob=-0.24,
                                            compression_ratio=2.49, text=word.word))
        return iter(segments), SimpleNamespace(language="en", language_probability=1.0)


def burst(seconds: float, lead: float = 0.3, tail: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.4 * np.sin(2 * np.pi * 300 * t)
    return np.concatenate([np.zeros(int(lead * SR)), tone, np.zeros(int(tail * SR))]).astype(np.float32)


def test_decode_packed_maps_one_pass_of_fake_whisper_output_back_to_each_utterance():
    model = FakeWhisper({5: 0.2})  # the 0.5 s utterance: unsure words (dropped, judged not English)
    decoder = WhisperDecoder(model)
    assert not decoder.packs  # until the speech is judged English (language.LanguageMemory)
    decoder.memory.add("en", 5.0)
    assert decoder.packs
    pieces = [burst(1.0), burst(0.7), burst(2.0), burst(0.5)]
    out = decoder.decode_packed(pieces)
    assert model.calls == 1
    # the window's compression ratio (2.49) would drop every segment; each piece is judged on its own words
    assert [[w.text for w in words] for words, _ in out] == [["w10"], ["w7"], ["w20"], []]
    first, third = out[0][0][0], out[2][0][0]
    assert abs(first.start - 0.3) < 1e-3 and abs(first.end - 1.3) < 1e-3  # timed from its own piece's start
    assert abs(third.start - 0.3) < 1e-3 and abs(third.end - 2.3) < 1e-3
    # each piece judged on its own words; a packed piece's "en" is not counted (the others' words made it look so)
    assert [spoken for _, spoken in out] == ["en"] * 4 and decoder.memory.items[-1][0] == "other"
    assert decoder([burst(1.0)][0]) == []  # alone, the segment gates read Whisper's figures as before


def test_a_looping_piece_is_dropped_on_its_own_compression_ratio():
    words = [Word("a", 0.1 * i, 0.1 * i + 0.05, 0.9) for i in range(40)]
    assert piece_figures(words).compression_ratio > 2.4
    assert piece_figures(words[:3]).compression_ratio < 2.4


def talk(durations: list[float], pause_s: float = 1.2) -> np.ndarray:
    return np.concatenate([np.zeros(SR, np.float32)] + [burst(d, 0.0, pause_s) for d in durations])


def stream_segments(audio: np.ndarray, pack_s: float, state_at: float | None = None):
    decoder = ContentDecoder()
    config = StreamConfig(file_clock=True, partials=False, pack_s=pack_s)
    stream = StreamingTranscriber(decoder, vad=EnergyVAD(), config=config)
    out, held_seen, block = [], [], 1600
    for i in range(0, audio.size, block):
        t = i / SR
        stream.feed(AudioBlock(t, audio[i:i + block], SR))
        out += stream.step(t + block / SR)
        held_seen.append(stream.held_from)
        if state_at is not None and t >= state_at:
            state, state_at = stream.state(), None
            stream = StreamingTranscriber(decoder, vad=EnergyVAD(), config=config)
            stream.restore(state)
    out += stream.finish()
    return [(s.text, round(s.t_emitted, 6), [(round(w.start, 4), round(w.end, 4)) for w in s.words])
            for s in out if s.committed], decoder.calls, held_seen


def test_a_packed_stream_commits_the_same_words_at_the_same_times_in_fewer_passes():
    audio = talk([0.6, 1.1, 0.8, 2.0, 0.9, 1.4, 0.7, 1.6, 1.0, 0.5] * 2)
    alone, alone_calls, _ = stream_segments(audio, 0.0)
    packed, packed_calls, held = stream_segments(audio, 28.0)
    small, small_calls, _ = stream_segments(audio, 5.0)
    assert len(alone) == 20 and alone_calls == 20
    assert packed == alone and small == alone
    assert packed_calls == 2 and 2 < small_calls < 20
    assert any(h is not None for h in held)


def test_held_utterances_survive_a_snapshot_of_the_stream():
    audio = talk([0.6, 1.1, 0.8, 2.0, 0.9, 1.4, 0.7, 1.6])
    reference, _, _ = stream_segments(audio, 28.0)
    restored, _, held = stream_segments(audio, 28.0, state_at=9.0)
    assert held[int(9.0 * SR / 1600)] is not None  # the snapshot was taken while utterances were held
    assert restored == reference


def test_packing_is_a_setting_and_off_by_default():
    """Off by default since Whisper's passes are cut to their audio (asr.min_pass_s): one pass per utterance was
    then as cheap and lost fewer words (docs/experiments/2026-12-07-short-whisper-passes.md)."""
    assert offline_stream_config(AsrConfig()).pack_s == AsrConfig().offline_pack_s == 0.0
    assert offline_stream_config(AsrConfig(offline_pack_s=28.0)).pack_s == 28.0


def packed_rows(clip, pipelined: bool):
    config = AppConfig(asr=AsrConfig(offline_pack_s=28.0))
    decoder = ContentDecoder()
    stream = make_stream(decoder, config.asr, vad=EnergyVAD())
    rows, latency = [], schema.header().index("latency_ms")
    channels = Channels(face=FakeFace(), voice=FakeVoice(), text=FakeText())
    analyze_file(clip, config, channels=channels, stream=stream, pipelined=pipelined,
                 on_estimate=lambda e: rows.append([c for i, c in enumerate(schema.row(e)) if i != latency]))
    return rows, decoder.calls


def test_a_packed_analysis_gives_the_same_rows_pipelined_and_stepwise(tmp_path):
    bursts = tuple((1.0 + 1.6 * i, 1.6 + 1.6 * i + 0.1 * (i % 3)) for i in range(8))
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=15.0, bursts=bursts)
    reference, calls = packed_rows(clip, pipelined=False)
    fast, fast_calls = packed_rows(clip, pipelined=True)
    text = schema.header().index("transcript")
    assert sum(1 for r in reference if r[text]) > 0
    assert calls == fast_calls == 1  # eight utterances, one pass
    assert fast == reference


def test_after_a_long_silence_the_held_utterances_are_decoded_as_they_are():
    audio = np.concatenate([talk([0.8, 1.2]), np.zeros(70 * SR, np.float32), talk([0.9])])
    segments, calls, held = stream_segments(audio, 28.0)
    assert [s[0] for s in segments] == ["d8", "d12", "d9"] and calls == 2
    first_commit = segments[0][1]
    block_s = 1600 / SR
    released = next(i for i, h in enumerate(held) if i * block_s > first_commit and h is None)
    assert 60.0 < (released + 1) * block_s - first_commit < 61.0  # no later than 60 s of media after it
