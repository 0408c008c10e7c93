"""The session's speech timeline: every chunk of the audio goes through the VAD once, for the voice channel and the
transcriber together."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16_000
CHUNK = 512
SPEECH = Path(__file__).parent / "assets" / "voice_speech_espeak.opus"


class CountingVAD:
    """Stand-in VAD: the chunk's mean level as its 'probability', counting every chunk it is asked about."""

    def __init__(self) -> None:
        self.chunks = 0
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        assert samples.size % CHUNK == 0
        self.chunks += samples.size // CHUNK
        return np.abs(samples.reshape(-1, CHUNK)).mean(1).astype(np.float32)


def _stream(seconds: float) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, int(seconds * RATE)).astype(np.float32)


def test_overlapping_windows_compute_each_chunk_once():
    from emolive.asr.vad import SpeechTimeline

    vad = CountingVAD()
    track = SpeechTimeline(lambda: vad)
    audio = _stream(10.0)
    window, hop = 2 * RATE, 3200  # 2 s windows every 0.2 s, as the live worker asks
    for end in range(window, audio.size + 1, hop):
        t_first, probs = track.covering(audio[end - window:end], end / RATE)
        first, last = -(-(end - window) // CHUNK), end // CHUNK  # the whole chunks of the grid inside the window
        assert probs.size == last - first and t_first == first * CHUNK / RATE
        expected = np.abs(audio[first * CHUNK:last * CHUNK].reshape(-1, CHUNK)).mean(1)
        np.testing.assert_allclose(probs, expected, rtol=1e-6)  # the chunks inside the window, in order
    assert vad.chunks == track.computed_chunks == audio.size // CHUNK  # one computation per chunk of audio


def test_a_gap_restarts_the_stream_and_old_audio_is_scored_apart():
    from emolive.asr.vad import SpeechTimeline

    vad = CountingVAD()
    track = SpeechTimeline(lambda: vad, keep_s=4.0)
    audio = _stream(2.0)
    track.window(audio, 2.0)
    track.window(audio, 2.0)  # nothing new: nothing computed
    assert vad.chunks == audio.size // CHUNK and track.restarts == 0
    t_first, probs = track.covering(audio[:RATE], 1.0)  # audio already scored: read back, not computed again
    assert vad.chunks == audio.size // CHUNK and t_first == 0.0 and probs.size == RATE // CHUNK
    track.window(audio, 9.0)  # it starts after the newest chunk (a gap): the stream restarts there
    assert vad.chunks == 2 * (audio.size // CHUNK) and track.restarts == 1
    before = vad.chunks
    old = track.window(audio, 5.0)  # older than the 4 s kept: scored by a stream of its own
    assert old.size == audio.size // CHUNK and vad.chunks == before + audio.size // CHUNK
    assert track.restarts == 1
    resets = vad.resets
    track.reset()
    assert vad.resets == resets + 1


def test_the_timeline_matches_one_streaming_pass_over_the_audio():
    from emolive.asr.vad import SpeechTimeline
    from emolive.asr.vadstream import StreamingVAD
    from emolive.core.audio_io import load_audio

    speech = load_audio(SPEECH)
    audio = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32)])
    whole = StreamingVAD()(audio[: audio.size - audio.size % CHUNK])
    track = SpeechTimeline()
    window = 2 * RATE
    for end in range(window, audio.size + 1, 1600):
        t_first, probs = track.covering(audio[end - window:end], end / RATE)
        first = int(round(t_first * RATE)) // CHUNK
        np.testing.assert_allclose(probs, whole[first:first + probs.size], atol=1e-5)
    assert whole.max() > 0.5 and whole[:10].max() < 0.5  # speech found in the middle, not in the silence


def test_the_voice_windows_and_the_transcriber_share_one_computation_per_chunk():
    """The live cadences: the transcriber feeds 0.1 s blocks and steps every 0.25 s, the voice channel scores a 2 s
    window every 0.2 s; whoever asks first computes a chunk, and both see the same probabilities."""
    from fakes import ScriptedDecoder

    from emolive.asr.streaming import StreamingTranscriber
    from emolive.asr.vad import SpeechTimeline
    from emolive.core.contracts import AudioBlock

    vad = CountingVAD()
    timeline = SpeechTimeline(lambda: vad)
    stream = StreamingTranscriber(ScriptedDecoder(), speech=timeline)
    alone = StreamingTranscriber(ScriptedDecoder(), vad=CountingVAD())  # the same stream with a VAD of its own
    audio = _stream(10.0)
    block, window = 1600, 2 * RATE
    seen, shared_out, alone_out = [], [], []
    for start in range(0, audio.size, block):
        piece = AudioBlock(t=start / RATE, samples=audio[start:start + block], sample_rate=RATE)
        end = start + block
        for s in (stream, alone):
            s.feed(piece)
        if end % 4000 == 0:
            shared_out += stream.step(end / RATE)
            alone_out += alone.step(end / RATE)
        if end % 3200 == 0 and end >= window // 4:
            lo = max(0, end - window)
            seen.append(timeline.window(audio[lo:end], end / RATE))
    shared_out += stream.finish()
    alone_out += alone.finish()
    assert vad.chunks == timeline.computed_chunks == -(-audio.size // CHUNK)  # once per chunk, both callers
    assert alone.speech.computed_chunks == vad.chunks  # as many as the transcriber alone needs
    assert any(s.committed for s in shared_out)
    assert [(s.text, s.start, s.end, s.committed) for s in shared_out] == \
        [(s.text, s.start, s.end, s.committed) for s in alone_out]  # the same transcript as with its own VAD
    assert all(p.size for p in seen)


def test_analysis_runs_the_vad_once_per_chunk_for_the_voice_channel_and_the_transcriber(demo_clip):
    """The shipped voice channel and the transcription stream of ``emolive analyze`` read one speech timeline."""
    from fakes import ScriptedDecoder

    from emolive.config import AppConfig
    from emolive.core.audio_io import load_audio
    from emolive.offline.analysis import analyze_file, make_stream
    from emolive.runtime.channels import load_channels

    config = AppConfig()
    channels = load_channels(config.inference, face=False, text=False)
    own = CountingVAD()
    stream = make_stream(ScriptedDecoder(), config.asr, vad=own)  # would run its own VAD if nothing were shared
    before = channels.voice.speech.computed_chunks
    segments = []
    analyze_file(demo_clip, config, channels=channels, stream=stream, on_segment=segments.append)
    computed = channels.voice.speech.computed_chunks - before
    samples = load_audio(demo_clip).size
    assert own.chunks == 0 and stream.speech is channels.voice.speech
    assert abs(computed - -(-samples // CHUNK)) <= 1  # every chunk of the file once, for both readers
    assert any(s.committed and s.text for s in segments)  # the transcriber found the speech on that timeline


def test_the_live_transcriber_gets_the_voice_channels_timeline(monkeypatch):
    from emolive.config import AppConfig
    from emolive.runtime.channels import Channels, load_channels
    from emolive.runtime.engine import build_engine
    from emolive.runtime.pipeline import LivePipeline

    config = AppConfig()
    channels = load_channels(config.inference, face=False, text=False)
    engine = build_engine(config, channels, shed_load=False)
    assert engine.speech is channels.voice.speech
    assert build_engine(config, Channels()).speech is None  # no voice channel: the transcriber keeps its own
    made = []

    class Recorder:
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            made.append(kwargs)

        def start(self) -> None:
            pass

    monkeypatch.setattr("emolive.asr.transcriber.Transcriber", Recorder)
    LivePipeline(config, camera=None, microphone=None)._start_transcriber(engine.speech)
    assert made and made[0]["speech"] is engine.speech
