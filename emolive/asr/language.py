"""Is the speech English? A verdict from the transcriber's own figures, so the words channel can stay silent.

Whisper tiny.en has no language detection: it turns other languages into English-looking words ("I'm going to
go to the next one." for Polish), and the English text model would read an emotion into them. One decoding pass
is judged from what Whisper reports for its segments, kept or dropped: the duration-weighted mean token
log-probability (English speech decodes with confidence, a foreign sentence forced into English does not), the
largest gzip compression ratio (a foreign sentence often loops: "a bit of a bit of a bit of") and the mean word
probability. A multilingual model states the language itself (kept when its probability is high enough).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ENGLISH = "en"
OTHER = "other"  # not English, language unknown (an English-only model)


@dataclass(frozen=True)
class LanguageGate:
    """Thresholds of the verdict (checked on real speech: see docs/experiments/2026-12-07-voice-moods.md)."""

    min_logprob: float = -0.9
    max_compression_ratio: float = 2.4
    min_word_probability: float = 0.5
    min_language_probability: float = 0.5

    def verdict(self, segments: Sequence[object], language: str | None = None,
                language_probability: float = 0.0) -> str:
        """"en", "other" or the multilingual model's language code for one pass; "" when there is nothing to
        judge (no segments). ``segments`` carry faster-whisper's ``start``, ``end``, ``avg_logprob``,
        ``compression_ratio`` and ``words`` (with ``probability``)."""
        if language is not None and language != ENGLISH and language_probability >= self.min_language_probability:
            return language
        if not segments:
            return ""
        duration = np.array([max(float(getattr(s, "end", 0.0)) - float(getattr(s, "start", 0.0)), 0.01)
                             for s in segments])
        logprob = float(np.average([float(getattr(s, "avg_logprob", 0.0)) for s in segments], weights=duration))
        ratio = max(float(getattr(s, "compression_ratio", 0.0)) for s in segments)
        words = [float(w.probability) for s in segments for w in (getattr(s, "words", None) or ())]
        word_probability = float(np.mean(words)) if words else 1.0
        foreign = (logprob < self.min_logprob or ratio > self.max_compression_ratio
                   or word_probability < self.min_word_probability)
        return OTHER if foreign else ENGLISH


def is_english(language: str) -> bool:
    """Whether a verdict lets the words vote ("" is no verdict: they do)."""
    return language in ("", ENGLISH)


class LanguageMemory:
    """The language of the last seconds of judged speech: a majority of verdicts weighted by their audio length.

    One short utterance is a weak witness (tiny.en decodes a second of Amharic with confidence now and then), and
    a pass whose words were all gated out still says something about the language; a speaker rarely changes
    language from one sentence to the next. Verdicts are kept until ``window_s`` seconds of audio are covered."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self.items: list[tuple[str, float]] = []

    def add(self, verdict: str, seconds: float) -> None:
        """One pass's (or packed piece's) verdict on ``seconds`` of audio ("" is no verdict: ignored)."""
        if not verdict:
            return
        self.items.append((verdict, max(float(seconds), 0.01)))
        while len(self.items) > 1 and sum(s for _, s in self.items[1:]) >= self.window_s:
            self.items.pop(0)

    @property
    def current(self) -> str:
        """"" with no verdict yet, else the language of at least half the remembered audio ("en" on a tie)."""
        if not self.items:
            return ""
        weight: dict[str, float] = {}
        for verdict, seconds in self.items:
            weight[verdict] = weight.get(verdict, 0.0) + seconds
        foreign = sum(s for v, s in weight.items() if v != ENGLISH)
        if foreign <= weight.get(ENGLISH, 0.0):
            return ENGLISH
        return max((v for v in weight if v != ENGLISH), key=weight.__getitem__)

    def state(self) -> list[list]:
        return [[v, s] for v, s in self.items]

    def restore(self, state: list | None) -> None:
        self.items = [(str(v), float(s)) for v, s in state or ()]
