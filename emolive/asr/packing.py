"""Several utterances in one Whisper pass (offline): their audio laid end to end with short silences between, one
decode, and each word given back to the utterance it was spoken in.

Whisper's encoder always runs on a 30 s window, so decoding a 3 s utterance alone pays for 30 s of mostly padding.
Offline, where nothing waits for an utterance's words, consecutive utterances are held until about
``StreamConfig.pack_s`` of their audio is collected (``HeldUtterances``), then decoded together
(``WhisperDecoder.decode_packed``); each keeps the media time it would have been committed at.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emolive.core.contracts import Word

GAP_S = 0.5  # silence between two packed pieces (Whisper ends a sentence there; a word is placed by its middle)
MAX_HOLD_S = 60.0  # media seconds an utterance waits at most for the pack to fill (bounds how far a driver reads on)


def layout(lengths: Sequence[int], gap: int) -> list[int]:
    """Offsets (samples) of pieces of ``lengths`` laid end to end with ``gap`` samples of silence between."""
    offsets, at = [], 0
    for n in lengths:
        offsets.append(at)
        at += n + gap
    return offsets


def join(pieces: Sequence[np.ndarray], gap: int) -> tuple[np.ndarray, list[int]]:
    """The pieces as one buffer with ``gap`` zero samples between, and each piece's offset in it."""
    offsets = layout([p.size for p in pieces], gap)
    out = np.zeros(offsets[-1] + pieces[-1].size if pieces else 0, dtype=np.float32)
    for piece, at in zip(pieces, offsets, strict=True):
        out[at:at + piece.size] = piece
    return out, offsets


def owner(start: float, end: float, spans: Sequence[tuple[float, float]]) -> int:
    """Index of the span (seconds in the packed buffer) that holds the middle of [start, end]; between two spans,
    the nearer one."""
    middle = 0.5 * (start + end)
    best, distance = 0, float("inf")
    for i, (a, b) in enumerate(spans):
        d = 0.0 if a <= middle <= b else min(abs(middle - a), abs(middle - b))
        if d < distance:
            best, distance = i, d
    return best


def split_words(words: Sequence[Word], spans: Sequence[tuple[float, float]]) -> list[list[Word]]:
    """Words timed on the packed buffer -> one list per span, timed from that span's start (clipped to it)."""
    out: list[list[Word]] = [[] for _ in spans]
    for w in words:
        i = owner(w.start, w.end, spans)
        a, b = spans[i]
        start = min(max(w.start, a), b) - a
        end = min(max(w.end, a), b) - a
        out[i].append(Word(w.text, start, max(start, end), w.probability))
    return out


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` per byte of its zlib compression (a looping text compresses well: a high ratio)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


@dataclass(frozen=True)
class PieceFigures:
    """What the decoder's gates and the language verdict read of a Whisper segment, for one packed piece's words.

    Whisper's own figures (mean token log-probability, compression ratio, no-speech probability) cover its whole
    30 s window, so in a packed pass they would judge every utterance in it together (a carrier phrase said ten
    times compresses like a loop). A piece is judged on its own words instead: the mean log of their
    probabilities and the compression ratio of their text; the no-speech figure has no per-piece counterpart
    (0: the VAD found speech there)."""

    start: float
    end: float
    avg_logprob: float
    compression_ratio: float
    words: tuple[Word, ...]
    text: str
    no_speech_prob: float = 0.0


def piece_figures(words: Sequence[Word]) -> PieceFigures:
    """The figures of one piece's words (at least one)."""
    text = " ".join(w.text for w in words)
    logprob = float(np.mean([np.log(max(w.probability, 1e-6)) for w in words]))
    return PieceFigures(words[0].start, words[-1].end, logprob, compression_ratio(text), tuple(words), text)


@dataclass(frozen=True)
class Held:
    """An ended utterance waiting for its packed decode: its audio, the session time of its first sample and the
    session time its words are committed at."""

    audio: np.ndarray
    t0: float
    emitted: float

    def state(self) -> dict:
        return {"audio": self.audio.copy(), "t0": self.t0, "emitted": self.emitted}

    @staticmethod
    def restore(state: dict) -> Held:
        return Held(np.array(state["audio"], dtype=np.float32), float(state["t0"]), float(state["emitted"]))


class HeldUtterances:
    """The utterances held for one packed decode, in order (``limit_s``: most audio in one pack)."""

    def __init__(self, limit_s: float, sample_rate: int = 16_000) -> None:
        self.limit_s = limit_s
        self.sample_rate = sample_rate
        self.items: list[Held] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def first_emitted(self) -> float | None:
        """Commit time of the oldest held utterance (nothing at or after it can be emitted before the release)."""
        return self.items[0].emitted if self.items else None

    def overdue(self, now: float) -> bool:
        """Whether the oldest held utterance was committed more than ``MAX_HOLD_S`` before ``now`` (media time):
        then the pack is decoded as it is (after long silence, rather than reading minutes further)."""
        return bool(self.items) and now - self.items[0].emitted > MAX_HOLD_S

    def fits(self, samples: int) -> bool:
        """Whether an utterance of ``samples`` joins the held ones without the pack passing ``limit_s``."""
        gap = int(GAP_S * self.sample_rate)
        total = sum(h.audio.size + gap for h in self.items) + samples
        return not self.items or total <= self.limit_s * self.sample_rate

    def add(self, held: Held) -> None:
        self.items.append(held)

    def take(self) -> list[Held]:
        out, self.items = self.items, []
        return out

    def state(self) -> list[dict]:
        return [h.state() for h in self.items]

    def restore(self, state: list[dict] | None) -> None:
        self.items = [Held.restore(s) for s in state or ()]


def decode_held(decoder: object, held: list[Held], sample_rate: int = 16_000) -> list[tuple[Held, list[Word], str]]:
    """One packed pass over the held utterances (``decoder.decode_packed``): each with its words on the session
    clock and its language verdict; the decoder is reset after it (the utterances have ended)."""
    if not held:
        return []
    results = decoder.decode_packed([h.audio for h in held], sample_rate)
    decoder.reset()
    return [(h, [Word(w.text, w.start + h.t0, w.end + h.t0, w.probability) for w in words], spoken)
            for h, (words, spoken) in zip(held, results, strict=True)]
