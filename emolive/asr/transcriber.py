"""The live transcription thread: reads the audio ring, runs the streaming core, reports segments and errors."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from emolive.asr.decoder import MIN_PASS_S
from emolive.asr.streaming import STEP_S, StreamConfig, StreamingTranscriber
from emolive.asr.vad import SpeechTimeline
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, TranscriptSegment
from emolive.core.threads import OwnThread

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 5


class AudioSource(Protocol):
    """What the transcriber needs from ``emolive.core.rings.AudioRing``."""

    @property
    def end_time(self) -> float: ...

    def between(self, t0: float, t1: float) -> AudioBlock: ...


class Transcriber(OwnThread):
    """Owns a daemon thread (``core.threads.OwnThread``) that turns the ring's audio into ``TranscriptSegment``s.

    ``on_segment`` and ``on_error`` are called from the transcriber's thread. The model is loaded inside the
    thread (without a throw-away decode), so ``start()`` returns at once; a load failure goes to ``on_error``
    and the thread ends. Errors while running are reported and the loop goes on; after ``MAX_CONSECUTIVE_FAILURES`` in a
    row it stops. ``stop()`` commits the open utterance before the thread ends. ``lag_s`` is the latest gap
    between the newest audio a decode saw and its text being emitted (seconds, session clock).

    Keyword-only extras: ``poll_s`` (how often new audio is checked by VAD; decodes stay at most one per
    ``interval_s``), ``start_at`` (session time to start reading from; default: the ring's end at start),
    ``config`` (full streaming settings; its ``interval_s`` wins over the argument), ``device``,
    ``speech``: the session's speech timeline, shared with the voice channel (``runtime.engine.Engine.speech``), so
    each chunk's VAD runs once; ``max_backlog_s``: live use only (None, the default, never skips): when more
    unread audio than this waits in the ring (decoding fell behind), the oldest is skipped so that only the newest
    ``max_backlog_s`` seconds are read; ``skipped_s`` and ``skips`` count what was dropped; ``min_pass_s``: the
    shortest Whisper encoder pass (``asr.decoder.DecodeOptions.min_pass_s``).
    """

    def __init__(
        self,
        audio_ring: AudioSource,
        clock: SessionClock,
        on_segment: Callable[[TranscriptSegment], None],
        on_error: Callable[[str], None] | None = None,
        model: str = "tiny.en",
        language: str | None = None,
        threads: int = 1,
        interval_s: float = 1.0,
        *,
        poll_s: float = STEP_S,
        start_at: float | None = None,
        config: StreamConfig | None = None,
        device: str = "cpu",
        max_backlog_s: float | None = None,
        speech: SpeechTimeline | None = None,
        min_pass_s: float = MIN_PASS_S,
    ) -> None:
        if max_backlog_s is not None and max_backlog_s <= 0:
            raise ValueError("max_backlog_s must be positive (or None: never skip)")
        super().__init__("transcriber")
        self.audio_ring = audio_ring
        self.clock = clock
        self.on_segment = on_segment
        self.on_error = on_error
        self.model = model
        self.language = language
        self.threads = threads
        self.config = config or StreamConfig(interval_s=interval_s)
        self.poll_s = poll_s
        self.start_at = start_at
        self.device = device
        self.speech = speech
        self.min_pass_s = min_pass_s
        self.lag_s = 0.0
        self.max_backlog_s = max_backlog_s
        self.skipped_s = 0.0  # audio not transcribed to keep up (live only)
        self.skips = 0
        self.ready = threading.Event()  # set once the model is loaded
        self._partials: bool | None = None  # set_partials: None follows ``config.partials``

    def set_partials(self, on: bool | None) -> None:
        """Decode unfinished utterances (``True``) or only ended ones (``False``) from the next step on, e.g. while
        nobody can see the words as they are spoken; ``None``: as ``config.partials`` says. Any thread may call it;
        an utterance under way is committed whole at its end when partials stop in its middle."""
        self._partials = on

    @property
    def partials(self) -> bool:
        """Whether unfinished utterances are decoded now."""
        return self.config.partials if self._partials is None else self._partials

    # ---------------------------------------------------------------- thread body (``stop``: the open
    # utterance is committed before it ends)
    def _main(self) -> None:
        try:
            stream = self._build()
        except Exception as exc:  # any load failure must reach the user
            self.error = f"transcription unavailable: {exc}"
            self._report(self.error, exc)
            return
        self.ready.set()
        cursor = self.audio_ring.end_time if self.start_at is None else self.start_at
        failures = 0
        while not self.stopping.is_set():
            woke = time.monotonic()
            try:
                if stream.config.partials != self.partials:
                    stream.config = dataclasses.replace(stream.config, partials=self.partials)
                cursor = self._feed(stream, cursor)
                self._emit(stream.step(self.clock.now()), stream)
                failures = 0
            except Exception as exc:
                failures += 1
                self._report(f"transcription error: {exc}", exc)
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    self.error = f"transcription stopped after {failures} errors in a row"
                    self._report(self.error)
                    return
            self.stopping.wait(max(0.0, self.poll_s - (time.monotonic() - woke)))
        try:
            cursor = self._feed(stream, cursor)
            self._emit(stream.finish(self.clock.now()), stream)
        except Exception as exc:
            self._report(f"transcription error while stopping: {exc}", exc)

    def _build(self) -> StreamingTranscriber:
        from emolive.asr.builder import build_stream

        # no warm-up decode: the first real decode measured no slower than the next (1.16-1.49 against 1.04-1.45 CPU
        # s), and a throw-away pass over 30 s of padding cost ~1 CPU s while the first estimates were being computed
        return build_stream(self.model, self.config, language=self.language, threads=self.threads,
                            device=self.device, warm_up=False, speech=self.speech, min_pass_s=self.min_pass_s)

    def _feed(self, stream: StreamingTranscriber, cursor: float) -> float:
        end = self.audio_ring.end_time
        if end <= cursor:
            return cursor
        if self.max_backlog_s is not None and end - cursor > self.max_backlog_s:
            skip_to = end - self.max_backlog_s
            self.skipped_s += skip_to - cursor
            self.skips += 1
            log.info("transcription fell behind: skipped %.1f s of audio (%.1f s in all)", skip_to - cursor,
                     self.skipped_s)
            cursor = skip_to
        block = self.audio_ring.between(cursor, end)
        if block.samples.size:
            stream.feed(block)
            return block.t + block.duration
        return cursor

    def _emit(self, segments: list[TranscriptSegment], stream: StreamingTranscriber) -> None:
        self.lag_s = stream.last_lag_s
        for segment in segments:
            self.on_segment(segment)

    def _report(self, message: str, exc: BaseException | None = None) -> None:
        log.error("%s", message, exc_info=exc)
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                log.exception("on_error callback failed")
