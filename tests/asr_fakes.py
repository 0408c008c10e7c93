"""Test doubles for the transcription tests: an energy VAD and a tone 'decoder'.

The tone decoder reads tone bursts as words (a burst at 100*k Hz is the word "wk"), so streaming behaviour
(commit policy, buffer trimming, utterance ends) can be tested exactly without a Whisper model. A burst that
touches the end of the buffer is still being spoken: it comes out as an unstable word that must never be
committed.
"""

from __future__ import annotations

import numpy as np

from emolive.contracts import Word

SR = 16_000


def tone(freq: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def burst_speech(ks: list[int], word_s: float = 0.3, gap_s: float = 0.15) -> np.ndarray:
    """Words w<k> as tone bursts at 100*k Hz separated by short gaps (one utterance)."""
    parts: list[np.ndarray] = []
    for k in ks:
        parts += [tone(100.0 * k, word_s), silence(gap_s)]
    return np.concatenate(parts)


def energy_vad(samples: np.ndarray) -> np.ndarray:
    """Speech probability 1 for 512-sample chunks with RMS above 0.02, else 0 (a short tail is zero-padded)."""
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    chunks = np.concatenate([audio, np.zeros((-audio.size) % 512, np.float32)]).reshape(-1, 512)
    return (np.sqrt((chunks**2).mean(axis=1)) > 0.02).astype(np.float32)


class ToneDecoder:
    """Decoder double: each tone burst is a word named by its frequency; records what it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.longest_s = 0.0
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        self.calls += 1
        self.longest_s = max(self.longest_s, len(audio) / SR)
        frame = 160
        n = len(audio) // frame
        rms = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1)) if n else np.zeros(0)
        loud = np.concatenate([[False], rms > 0.05, [False]])
        edges = np.flatnonzero(np.diff(loud.astype(int)))
        words = []
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            seg = audio[a * frame : b * frame]
            if b >= n:  # still being spoken: an unstable guess
                words.append(Word(f"partial{self.calls}", a * frame / SR, b * frame / SR, 0.3))
                continue
            spectrum = np.abs(np.fft.rfft(seg))
            freq = np.argmax(spectrum) * SR / len(seg)
            words.append(Word(f"w{round(freq / 100)}", a * frame / SR, b * frame / SR, 0.9))
        return words
