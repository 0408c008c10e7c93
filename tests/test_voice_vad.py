"""The voice channel's speech track: every chunk of the session's audio goes through the VAD once."""

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
    from emolive.vad import SpeechTrack

    vad = CountingVAD()
    track = SpeechTrack(vad)
    audio = _stream(10.0)
    window, hop = 2 * RATE, 3200  # 2 s windows every 0.2 s, as the live worker asks
    for end in range(window, audio.size + 1, hop):
        probs = track.window(audio[end - window:end], end / RATE)
        assert probs.size == window // CHUNK
        expected = np.abs(audio[: (end // CHUNK) * CHUNK].reshape(-1, CHUNK)).mean(1)[-probs.size:]
        np.testing.assert_allclose(probs, expected, rtol=1e-6)  # the chunks inside the window, in order
    assert vad.chunks == track.computed_chunks == audio.size // CHUNK  # one computation per chunk of audio


def test_a_time_jump_or_reset_restarts_the_stream():
    from emolive.vad import SpeechTrack

    vad = CountingVAD()
    track = SpeechTrack(vad)
    audio = _stream(2.0)
    track.window(audio, 2.0)
    track.window(audio, 2.0)  # no new audio: nothing computed
    assert vad.chunks == audio.size // CHUNK
    track.window(audio, 1.0)  # time went backwards: a new stream over this window
    track.window(audio, 9.0)  # a gap longer than the window: the same
    assert vad.chunks == 3 * (audio.size // CHUNK)
    resets = vad.resets
    track.reset()
    assert vad.resets == resets + 1


def test_speech_track_matches_one_streaming_pass_over_the_audio():
    from emolive.asr.vadstream import StreamingVAD
    from emolive.audio_io import load_audio
    from emolive.vad import SpeechTrack

    speech = load_audio(SPEECH)
    audio = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32)])
    whole = StreamingVAD()(audio[: audio.size - audio.size % CHUNK])
    track = SpeechTrack()
    window = 2 * RATE
    for end in range(window, audio.size + 1, 1600):
        probs = track.window(audio[end - window:end], end / RATE)
        np.testing.assert_allclose(probs, whole[end // CHUNK - probs.size:end // CHUNK], atol=1e-5)
    assert whole.max() > 0.5 and whole[:10].max() < 0.5  # speech found in the middle, not in the silence
