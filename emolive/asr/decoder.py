"""One Whisper pass over an audio buffer -> word hypotheses, with the usual hallucination gates."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from emolive.asr.language import ENGLISH, LanguageGate, LanguageMemory
from emolive.asr.models import BASE_EXTRA_HINT
from emolive.asr.packing import GAP_S, join, piece_figures, split_words
from emolive.core.contracts import Word
from emolive.core.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

MIN_PASS_S = 12.0  # the shortest encoder pass by default (``DecodeOptions.min_pass_s``)


class Decoder(Protocol):
    """Anything that turns 16 kHz audio into words timed from the buffer's first sample."""

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding and gating settings; the thresholds are Whisper's own, applied more strictly.

    A segment is dropped when it is probably not speech (``no_speech_prob`` above the threshold), when the
    model is unsure of it (``avg_logprob`` below the threshold) or when it repeats itself (gzip compression
    ratio above the threshold). Whisper itself needs both of the first two to call a window silent; either
    one is enough here (on music, tiny.en emits " ." with no_speech_prob 0.89 but avg_logprob -0.95).
    """

    beam_size: int = 1
    language: str | None = None
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    max_new_tokens: int | None = None
    # English-only models: each encoder pass covers the audio + 1 s, at least this long, instead of Whisper's 30 s
    # window (``short_pass``); 30 turns it off. Multilingual models keep the full window (not measured shorter).
    min_pass_s: float = MIN_PASS_S


class WhisperDecoder:
    """Callable wrapper around ``WhisperModel.transcribe`` returning gated words (times relative to buffer).

    For a multilingual model without a fixed language, the language is detected on the first pass of an
    utterance and kept until ``reset()`` (the next utterance), so it is not detected again on every pass.
    ``spoken`` is the verdict on the language of the last seconds of speech (emolive.asr.language: each pass's
    verdict goes into a ``LanguageMemory``): "en", "other" (an English-only model whose figures say the speech is
    not English), a detected code, or "" (nothing judged yet). Utterances are packed (``packs``) only while the
    speech is judged English: a packed piece is decoded after the others' words, which make a foreign piece look
    English (tiny.en repeats an earlier piece's sentence with confidence), so only its "not English" counts.
    """

    def __init__(self, model: WhisperModel, options: DecodeOptions | None = None,
                 gate: LanguageGate | None = None) -> None:
        self.model = model
        self.options = options or DecodeOptions()
        self.gate = gate or LanguageGate()
        self.spoken = ""
        self.memory = LanguageMemory()
        self._multilingual = bool(getattr(model.model, "is_multilingual", False))
        if not self._multilingual and self.options.language not in (None, "en"):
            raise ModelError(
                f"this Whisper model is English-only; for language {self.options.language!r} use the "
                f"multilingual model (--model base, {BASE_EXTRA_HINT})"
            )
        self._language = self.options.language or (None if self._multilingual else "en")
        self._detected: str | None = None
        self.last_language: str | None = self._language

    def reset(self) -> None:
        """Forget the detected language (called at the end of each utterance)."""
        self._detected = None

    def state(self) -> dict:
        """The language detected for the current utterance (the model itself keeps nothing between calls)."""
        return {"detected": self._detected, "last_language": self.last_language, "spoken": self.spoken,
                "memory": self.memory.state()}

    def restore(self, state: dict) -> None:
        self._detected, self.last_language = state["detected"], state["last_language"]
        self.spoken = str(state.get("spoken", ""))
        self.memory.restore(state.get("memory"))

    @property
    def packs(self) -> bool:
        """Whether ``decode_packed`` may join utterances: only with a fixed language (English-only model or a stated
        language), as a multilingual model detects one language per pass, and while the speech is judged English."""
        return self._language is not None and self.memory.current == ENGLISH

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        seen, info, language = self._pass(audio, prompt)
        words = self._words(seen)
        if language is None and info.language_probability >= 0.5:
            self._detected = info.language
        self.last_language = language or info.language
        self.memory.add(self._verdict(seen, info, language), audio.size / 16_000)
        self.spoken = self.memory.current
        return words

    def decode_packed(self, pieces: list[np.ndarray], sample_rate: int = 16_000) -> list[tuple[list[Word], str]]:
        """Several utterances in one pass (``packing``): per piece, its words timed from the piece's first sample
        (gated on its own words' figures, ``packing.piece_figures``) and ``spoken`` after it. Needs ``packs``."""
        if not pieces:
            return []
        audio, offsets = join(pieces, int(GAP_S * sample_rate))
        spans = [(at / sample_rate, (at + p.size) / sample_rate) for at, p in zip(offsets, pieces, strict=True)]
        seen, info, language = self._pass(audio, "")
        self.last_language = language or info.language
        out: list[tuple[list[Word], str]] = []
        for words in split_words(self._words(seen, gated=False), spans):
            # Whisper's figures are per 30 s window: each piece is judged on figures of its own words instead
            figures = [piece_figures(words)] if words else []
            kept = words if all(self._keep(f) for f in figures) else []
            verdict = self._verdict(figures, info, language)
            if verdict != ENGLISH:  # a packed piece's "en" is no evidence (see the class docstring)
                self.memory.add(verdict, (words[-1].end - words[0].start) if words else 0.0)
            out.append((kept, self.memory.current))
        self.spoken = out[-1][1]
        return out

    def _pass(self, audio: np.ndarray, prompt: str) -> tuple[list[object], object, str | None]:
        """One ``transcribe`` call: (every segment Whisper gave, its info, the language asked for)."""
        opts = self.options
        language = self._language or self._detected
        short = getattr(self.model, "short_passes", None)
        with short(opts.min_pass_s) if short is not None and not self._multilingual else nullcontext():
            segments, info = self._transcribe(audio, language, prompt)
            return list(segments), info, language  # the passes run while the segments are read

    def _transcribe(self, audio: np.ndarray, language: str | None, prompt: str) -> tuple[object, object]:
        opts = self.options
        return self.model.transcribe(
            np.asarray(audio, dtype=np.float32),
            language=language,
            beam_size=opts.beam_size,
            best_of=1,
            temperature=0.0,
            word_timestamps=True,
            vad_filter=False,  # the caller gates with VAD already
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
            without_timestamps=False,
            compression_ratio_threshold=None,  # no temperature fallback: gate instead (below)
            log_prob_threshold=None,
            no_speech_threshold=None,
            max_new_tokens=opts.max_new_tokens,
        )

    def _words(self, seen: list[object], gated: bool = True) -> list[Word]:
        """The words of the segments that pass the gates (all with ``gated`` False; times as Whisper gave them)."""
        words: list[Word] = []
        for seg in seen:
            if gated and not self._keep(seg):
                continue
            for w in getattr(seg, "words", None) or ():
                text = w.word.strip()
                if text:
                    words.append(Word(text, float(w.start), float(w.end), float(w.probability)))
        return words

    def _verdict(self, seen: list[object], info: object, language: str | None) -> str:
        stated = language if language is not None and self._multilingual else None
        return self.gate.verdict(seen, stated or (info.language if self._multilingual else None),
                                 1.0 if stated else float(info.language_probability))

    def _keep(self, seg: object) -> bool:
        opts = self.options
        no_speech = float(getattr(seg, "no_speech_prob", 0.0))
        logprob = float(getattr(seg, "avg_logprob", 0.0))
        ratio = float(getattr(seg, "compression_ratio", 0.0))
        keep = (
            no_speech <= opts.no_speech_threshold
            and logprob >= opts.logprob_threshold
            and ratio <= opts.compression_ratio_threshold
        )
        if not keep:
            log.debug("dropped segment %r (no_speech %.2f, logprob %.2f, ratio %.2f)",
                      getattr(seg, "text", ""), no_speech, logprob, ratio)
        return keep
