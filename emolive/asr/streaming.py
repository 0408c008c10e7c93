"""The streaming transcription core: audio chunks in, TranscriptSegment updates out (no threads, no clock).

The live ``Transcriber`` thread and the ``emolive eval asr`` replay drive the same object:
``feed`` appends audio stamped on the session clock, ``step(now)`` runs VAD on the new audio, decodes the
current utterance when due and returns segments. Silence costs only VAD: nothing is decoded outside speech.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emolive.asr.commit import LocalAgreement
from emolive.asr.decoder import Decoder
from emolive.asr.endpoint import Boundary, Endpointer
from emolive.asr.packing import Held, HeldUtterances, decode_held
from emolive.asr.vad import SpeechTimeline
from emolive.asr.vadstream import CHUNK, StreamingVAD
from emolive.core.contracts import AudioBlock, TranscriptSegment, Word
from emolive.core.snapshot import restore_segment, restore_word, segment_state, word_state

log = logging.getLogger(__name__)

VAD_CHUNK = CHUNK  # samples per Silero VAD decision at 16 kHz
STEP_S = 0.1  # how often every driver steps the stream (live thread, replay, offline analysis), in session time


@dataclass(frozen=True)
class StreamConfig:
    """Timing of the streaming policy (seconds).

    ``interval_s``: least new audio between two decodes of an unfinished utterance (bounds CPU use);
    ``first_partial_s``: speech before the first one, and the wait between decodes until the utterance
    shows some text (so text shows within about a second).
    ``max_duty``: once an utterance shows text, the wait between decodes also grows to
    ``decode time / max_duty``, so a slow machine spends at most about that fraction of one core's time on
    partial decodes.
    ``min_silence_s``: silence that ends an utterance (then its text is committed).
    ``pre_roll_s`` / ``post_roll_s``: audio kept before the detected speech start / after its end.
    ``min_speech_s``: shorter bursts (clicks, bumps) are ignored without decoding.
    ``trim_after_s``: once the buffer is longer, it is cut at the last committed word (decode cost stays
    bounded on long utterances). ``max_buffer_s``: past this, tentative words are committed and cut (Whisper
    sees at most 30 s). ``max_gap_s``: a longer hole in the fed audio closes the open utterance and restarts
    the buffer at the new audio (shorter holes are filled with silence).
    ``partials``: decode unfinished utterances (live, so words show while someone speaks). Offline analysis
    turns it off: each utterance is decoded once, when it ends (or when it outgrows ``max_buffer_s``), and its
    words are committed then, at the same media time as a live commit at that endpoint; a third to a fifth of the
    decodes of the streaming cadence.
    ``file_clock``: offline analysis of a file. Emissions are stamped with the step's media time and the wait
    between decodes ignores how long a decode took, so the output depends only on the audio, never on the
    machine's speed or load. Live (the default), an emission is stamped with the step's start plus the compute
    spent so far, and ``max_duty`` applies.
    ``pack_s`` (offline: ``file_clock``, no ``partials``; 0: off): ended utterances are held until about this much
    of their audio is collected, then decoded in one pass (``asr.packing``), each committed at its own end time.
    """

    interval_s: float = 1.0
    first_partial_s: float = 0.5
    max_duty: float = 0.6
    min_silence_s: float = 0.5
    pre_roll_s: float = 0.5
    post_roll_s: float = 0.2
    min_speech_s: float = 0.2
    trim_after_s: float = 8.0
    max_buffer_s: float = 24.0
    max_gap_s: float = 1.0
    vad_threshold: float = 0.5
    sample_rate: int = 16_000
    file_clock: bool = False
    partials: bool = True
    pack_s: float = 0.0


class StreamingTranscriber:
    """VAD-gated, LocalAgreement-committed streaming transcription of one audio stream.

    Returned segments: a committed segment carries words that will never change; a partial segment
    (``committed=False``) is the current guess for the rest of the utterance and replaces the previous
    partial; an empty partial clears it. ``compute_s`` sums the time spent in ``step``/``finish``;
    ``last_lag_s`` is the latest gap between the newest audio a decode saw and its text being emitted.
    """

    def __init__(
        self,
        decoder: Decoder,
        vad: Callable[[np.ndarray], np.ndarray] | None = None,
        config: StreamConfig | None = None,
        speech: SpeechTimeline | None = None,
    ) -> None:
        self.config = config or StreamConfig()
        self._own_speech = speech is None  # False for a timeline shared with the voice channel (or ``use_speech``)
        if speech is None:
            speech = SpeechTimeline((lambda: vad) if vad is not None else StreamingVAD, self.config.sample_rate)
        self.decoder = decoder
        self.speech = speech
        self.policy = LocalAgreement()
        self.endpointer = Endpointer(
            VAD_CHUNK / self.config.sample_rate, self.config.vad_threshold, self.config.min_silence_s
        )
        self.compute_s = 0.0
        self.last_lag_s = 0.0
        self._decode_s = 0.0  # compute time of the latest decode
        self._buf = np.zeros(0, dtype=np.float32)
        self._t0: float | None = None  # session time of _buf[0]
        self._vad_at = 0  # index into _buf of the first sample not yet seen by VAD
        self._utt_start: float | None = None
        self._last_decode_end = 0.0
        self._utt_words: list[Word] = []
        self._partial = ""
        self._step_started = 0.0
        self._now = 0.0
        self._pending: list[TranscriptSegment] = []  # emitted by feed() after a gap, returned by step()
        self._held = HeldUtterances(self.config.pack_s, self.config.sample_rate)

    def use_speech(self, speech: SpeechTimeline) -> None:
        """Read speech probabilities from the session's shared timeline (before the first ``feed``): the chunks the
        voice channel already scored are not computed again."""
        if self._t0 is not None:
            raise RuntimeError("use_speech must come before the first audio")
        self.speech = speech
        self._own_speech = False

    # ---------------------------------------------------------------- snapshots
    @property
    def can_snapshot(self) -> bool:
        """Whether ``state`` can capture everything: the decoder must have ``state``/``restore`` (or say it is
        ``stateless``), and so must the speech timeline's VAD when the timeline is the stream's own."""
        decoder = getattr(self.decoder, "stateless", False) or (hasattr(self.decoder, "state")
                                                                and hasattr(self.decoder, "restore"))
        return decoder and (not self._own_speech or self.speech.can_snapshot)

    def state(self) -> dict:
        """Everything the next ``feed``/``step``/``finish`` calls depend on (arrays as numpy). A shared speech
        timeline (``use_speech``) is not included: its owner (the voice channel) saves it."""
        return {
            "buf": self._buf.copy(), "t0": self._t0, "vad_at": self._vad_at, "utt_start": self._utt_start,
            "last_decode_end": self._last_decode_end, "utt_words": [word_state(w) for w in self._utt_words],
            "partial": self._partial, "now": self._now, "pending": [segment_state(s) for s in self._pending],
            "decode_s": self._decode_s, "compute_s": self.compute_s, "last_lag_s": self.last_lag_s,
            "policy": self.policy.state(), "endpointer": self.endpointer.state(),
            "speech": self.speech.state() if self._own_speech else None,
            "decoder": self.decoder.state() if hasattr(self.decoder, "state") else {},
            "held": self._held.state(),
        }

    def restore(self, state: dict) -> None:
        self._buf = np.array(state["buf"], dtype=np.float32)
        self._t0 = None if state["t0"] is None else float(state["t0"])
        self._vad_at = int(state["vad_at"])
        self._utt_start = None if state["utt_start"] is None else float(state["utt_start"])
        self._last_decode_end = float(state["last_decode_end"])
        self._utt_words = [restore_word(w) for w in state["utt_words"]]
        self._partial = str(state["partial"])
        self._now = float(state["now"])
        self._pending = [restore_segment(s) for s in state["pending"]]
        self._decode_s, self.compute_s = float(state["decode_s"]), float(state["compute_s"])
        self.last_lag_s = float(state["last_lag_s"])
        self.policy.restore(state["policy"])
        self._held.restore(state.get("held"))
        self.endpointer.restore(state["endpointer"])
        if (state["speech"] is None) == self._own_speech:
            raise ValueError("the stream's snapshot does not match how it shares the speech timeline")
        if self._own_speech:
            self.speech.restore(state["speech"])
        if hasattr(self.decoder, "restore"):
            self.decoder.restore(state["decoder"])

    # ---------------------------------------------------------------- audio in
    held_from = property(lambda self: self._held.first_emitted,
                         doc="Commit time of the oldest utterance held for a packed decode (None: none held).")

    def release_held(self) -> list[TranscriptSegment]:
        """Decode the utterances held for a packed decode now (the driver has no more audio to give)."""
        return self._release()

    @property
    def audio_end(self) -> float:
        """Session time just after the newest fed sample (0.0 before any audio)."""
        return 0.0 if self._t0 is None else self._time(len(self._buf))

    def feed(self, block: AudioBlock) -> None:
        """Append audio; overlapping samples are dropped, a short gap is filled with silence."""
        sr = self.config.sample_rate
        if block.sample_rate != sr:
            raise ValueError(f"expected {sr} Hz audio, got {block.sample_rate} Hz")
        samples = np.asarray(block.samples, dtype=np.float32).reshape(-1)
        offset = 0 if self._t0 is None else int(round((block.t - self.audio_end) * sr))
        if self._t0 is None or offset > self.config.max_gap_s * sr:
            if self._t0 is not None:
                log.warning("%.1f s gap in the audio stream: open utterance closed", offset / sr)
                self._begin(block.t)
                self._pending += self._close()
                self.compute_s += time.perf_counter() - self._step_started
            self._buf = np.zeros(0, dtype=np.float32)
            self._vad_at = 0
            self._t0 = block.t
        elif offset < 0:
            samples = samples[-offset:]
        elif offset > 0:
            samples = np.concatenate([np.zeros(offset, dtype=np.float32), samples])
        if samples.size:
            self._buf = np.concatenate([self._buf, samples])

    # ---------------------------------------------------------------- processing
    def step(self, now: float | None = None) -> list[TranscriptSegment]:
        """Process what was fed since the last step; ``now`` is the session time (default: audio end)."""
        self._begin(now)
        out, self._pending = self._pending, []
        try:
            for event in self._speech_events(pad=False):
                out += self._on_boundary(event)
            if self.config.file_clock and (self._utt_words or self.policy.tentative or self._partial):
                wait = self.config.interval_s  # media time only: the same decodes whatever the machine's speed
            elif self._utt_words or self.policy.tentative or self._partial:  # the utterance already shows text
                wait = max(self.config.interval_s, self._decode_s / self.config.max_duty)
            else:  # nothing shown yet (or the first decode found no words): try again sooner
                wait = min(self.config.interval_s, self.config.first_partial_s)
            if not self.config.partials:  # offline: one decode per utterance, unless it outgrows the buffer
                due = self._duration() > self.config.max_buffer_s
            else:
                due = self.audio_end - self._last_decode_end >= wait
            if self._utt_start is not None and due:
                out += self._decode_partial()
            out += self._release() if self._held.overdue(self._now) else []
            self._trim_idle()
        finally:
            self.compute_s += time.perf_counter() - self._step_started
        return out

    def finish(self, now: float | None = None) -> list[TranscriptSegment]:
        """End of stream: VAD the remaining audio and commit any open utterance."""
        self._begin(now)
        out, self._pending = self._pending, []
        try:
            out += self._close()
        finally:
            self.compute_s += time.perf_counter() - self._step_started
        return out

    # ---------------------------------------------------------------- internals
    def _close(self) -> list[TranscriptSegment]:
        out: list[TranscriptSegment] = []
        for event in self._speech_events(pad=True):
            out += self._on_boundary(event)
        for event in self.endpointer.close():
            out += self._on_boundary(event)
        return out + self._release()

    def _speech_events(self, pad: bool) -> list[Boundary]:
        """Speech probabilities of the audio not yet seen (from the session's shared ``SpeechTimeline``: chunks the
        voice channel already scored are not computed again) -> utterance boundaries. ``pad``: the stream ends, the
        last partial chunk is completed with silence."""
        if len(self._buf) - self._vad_at < (1 if pad else VAD_CHUNK):
            return []
        t_first, probs = self.speech.covering(self._buf[self._vad_at :], self.audio_end, pad=pad)
        if not probs.size:
            return []
        self._vad_at = min(len(self._buf), self._index(t_first) + probs.size * VAD_CHUNK)
        return self.endpointer.update(probs, t_first)

    def _begin(self, now: float | None) -> None:
        self._step_started = time.perf_counter()
        self._now = self.audio_end if now is None else now

    def _emitted(self) -> float:
        """Session time of an emission: the step's start plus the compute spent so far (live), or the step's
        media time itself (``file_clock``)."""
        if self.config.file_clock:
            return self._now
        return self._now + (time.perf_counter() - self._step_started)

    def _time(self, index: int) -> float:
        return (self._t0 or 0.0) + index / self.config.sample_rate

    def _index(self, t: float) -> int:
        return int(round((t - (self._t0 or 0.0)) * self.config.sample_rate))

    def _on_boundary(self, event: Boundary) -> list[TranscriptSegment]:
        if event.kind == "start":
            self._utt_start = event.t
            self._last_decode_end = event.t  # the first decode comes first_partial_s into the speech
            self._cut(self._index(event.t - self.config.pre_roll_s))
            return []
        if self._utt_start is None:
            return []
        start, self._utt_start = self._utt_start, None
        out: list[TranscriptSegment] = []
        covered = self._last_decode_end >= event.t + min(0.1, self.config.post_roll_s)
        if covered and (self._utt_words or self.policy.tentative):
            out += self._commit(self.policy.flush())  # the latest partial decode already saw it all
        elif event.t - start >= self.config.min_speech_s or self._utt_words or self.policy.tentative:
            stop = min(len(self._buf), self._index(event.t + self.config.post_roll_s))
            if self._packing() and not (self._utt_words or self.policy.tentative):
                if not self._held.fits(stop):
                    out += self._release()
                self._held.add(Held(self._buf[:stop].copy(), self._time(0), self._emitted()))
                self._last_decode_end = self._time(stop)
            else:
                out += self._release()
                words = self._decode(0, stop)
                out += self._commit(self.policy.flush(words))
        out += self._set_partial([])
        self.policy.reset()
        self.decoder.reset()
        self._utt_words = []
        return out

    def _packing(self) -> bool:
        c = self.config
        return c.pack_s > 0 and c.file_clock and not c.partials and bool(getattr(self.decoder, "packs", False))

    def _release(self) -> list[TranscriptSegment]:
        """Decode the held utterances in one pass; their segments, each stamped with its own commit time."""
        out: list[TranscriptSegment] = []
        for held, words, spoken in decode_held(self.decoder, self._held.take(), self.config.sample_rate):
            committed = self.policy.flush(words)  # as at the utterance's end: times stay monotonic
            self.policy.reset()
            out += [_segment(committed, True, held.emitted, spoken)] if committed else []
        return out

    def _decode_partial(self) -> list[TranscriptSegment]:
        out = self._release()
        words = self._decode(0, len(self._buf))
        committed, tentative = self.policy.update(words)
        full = self._duration() > self.config.max_buffer_s
        if full:
            committed += self.policy.flush()
            tentative = []
        out += self._commit(committed)
        out += self._set_partial(tentative)
        if full or (committed and self._duration() > self.config.trim_after_s):  # a full buffer whose words the
            # gates all dropped is cut too: kept, it would be decoded again at every step until the utterance ends
            self._cut(self._index(self.policy.committed_end) if committed else len(self._buf))
        return out

    def _decode(self, begin: int, stop: int) -> list[Word]:
        audio = self._buf[begin:stop]
        t0 = self._time(begin)
        self._last_decode_end = self._time(stop)
        if audio.size < VAD_CHUNK:
            return []
        prompt = " ".join(w.text for w in self._utt_words if w.end <= t0 + 1e-3)[-200:]
        started = time.perf_counter()
        words = self.decoder(audio, prompt)
        self._decode_s = time.perf_counter() - started
        self.last_lag_s = self._emitted() - self._last_decode_end
        return [Word(w.text, w.start + t0, w.end + t0, w.probability) for w in words]

    def _commit(self, words: list[Word]) -> list[TranscriptSegment]:
        if not words:
            return []
        self._utt_words += words
        return [_segment(words, True, self._emitted(), self._spoken())]

    def _set_partial(self, words: list[Word]) -> list[TranscriptSegment]:
        text = " ".join(w.text for w in words)
        if text == self._partial:
            return []
        self._partial = text
        if not words:
            t = self.policy.committed_end
            return [TranscriptSegment("", t, t, False, 0.0, (), self._emitted())]
        return [_segment(words, False, self._emitted(), self._spoken())]

    def _spoken(self) -> str:
        """The decoder's verdict on the language of its latest pass ("" when it gives none)."""
        return str(getattr(self.decoder, "spoken", ""))

    def _duration(self) -> float:
        return len(self._buf) / self.config.sample_rate

    def _cut(self, index: int) -> None:
        """Drop audio before ``index`` (never audio VAD has not seen yet)."""
        index = max(0, min(index, self._vad_at))
        if index:
            self._t0 = self._time(index)
            self._buf = self._buf[index:]
            self._vad_at -= index

    def _trim_idle(self) -> None:
        if self._utt_start is None:
            self._cut(self._vad_at - int(self.config.pre_roll_s * self.config.sample_rate))


def _segment(words: list[Word], committed: bool, t_emitted: float, language: str = "") -> TranscriptSegment:
    confidence = float(np.mean([w.probability for w in words]))
    return TranscriptSegment(
        text=" ".join(w.text for w in words),
        start=words[0].start,
        end=words[-1].end,
        committed=committed,
        confidence=confidence,
        words=tuple(words),
        t_emitted=t_emitted,
        language=language,
    )
