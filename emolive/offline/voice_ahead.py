"""Offline analysis: the voice channel's windows computed in a thread of their own, ahead of the steps.

A step's face and voice work are independent until fusion, and offline the audio of later steps is already
decoded. ``VoiceAhead`` replays the worker's voice decisions (``scheduling.schedule`` + ``scheduling.VoiceWindows``, the
same code) on its own copy of the audio, calls the voice channel in the same order with the same windows, and
hands each result to the worker when its step asks for it (``process``, standing in for the channel). So the
voice channel's state (running speaker statistics) goes through exactly the sequence of the step-wise run, and
the rows are the same, while the face channel (main thread) and the Whisper encoder (this thread) use both cores.

``hold_every_s`` (checkpoints): the look-ahead does not score a window of a step after the next multiple ``H`` of
it until ``release()``; the analysis calls that after saving its state at step ``H``, so the saved voice state is
the step-wise one at ``H``, not one that ran ahead.

Offline only: no load shedding (level 0), the file's clock. The decode thread feeds ``put``/``finish``; a result
that does not match what the worker asks (a bug) is logged and computed in the worker's thread instead, and the
look-ahead stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import numpy as np

from emolive.config import InferenceConfig
from emolive.core.contracts import AudioBlock, ModalityOutput, VoiceLike
from emolive.core.rings import AudioRing
from emolive.runtime.scheduling import VoiceWindows, schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Result:
    end: float
    size: int
    output: ModalityOutput | None
    error: Exception | None


class _Finished:
    def __init__(self, end: float) -> None:
        self.end = end


class VoiceAhead:
    """Stands in for the voice channel in ``InferenceWorker`` (``process``) while a thread computes ahead."""

    def __init__(self, voice: VoiceLike, config: InferenceConfig, detect_every: int, stop: threading.Event,
                 ring_seconds: float = 30.0, sample_rate: int = 16_000, hold_every_s: float = 0.0) -> None:
        self.voice = voice
        self.config = config
        self.detect_every = detect_every
        self.stop = stop
        self.ring = AudioRing(ring_seconds, sample_rate)
        self.inbox: queue.Queue[AudioBlock | _Finished] = queue.Queue(maxsize=2000)
        self.results: queue.Queue[_Result | BaseException] = queue.Queue()
        self.computed = 0  # windows scored in the look-ahead thread
        self.inline = 0  # windows the worker had to score itself (out of step: should stay 0)
        self._broken = False
        self._done = False  # the look-ahead reached the end of the steps
        self._halt = threading.Event()  # this look-ahead only (out of step); ``stop`` ends the whole analysis
        self.hold_every_s = hold_every_s
        self._holds_released = 0
        self._released = threading.Condition()
        self._finished_at: float | None = None
        self._start_step = 0
        self._windows_state: dict | None = None
        self.thread = threading.Thread(target=self._loop, name="emolive-analysis-voice", daemon=True)

    def restore(self, step: int, windows: dict, audio: dict, released: int) -> None:
        """Go on after step number ``step`` of a restored analysis (call before ``thread.start``): the worker's
        voice decisions so far (``VoiceWindows.state``), the audio ring's state (``AudioRing.state``; the decode
        thread then feeds the blocks after it) and the checkpoints already released."""
        self._start_step = step
        self._windows_state = windows
        self.ring.restore(audio)
        self._holds_released = released

    # --- fed by the decode thread -------------------------------------------------------------------
    def put(self, block: AudioBlock) -> bool:
        return self._offer(block)

    def finish(self, end: float) -> bool:
        return self._offer(_Finished(end))

    def _stopped(self) -> bool:
        return self.stop.is_set() or self._halt.is_set()

    def _offer(self, item: AudioBlock | _Finished) -> bool:
        if self._halt.is_set():
            return True  # nobody reads it any more: the decode thread goes on
        while not self.stop.is_set():
            try:
                self.inbox.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # --- the look-ahead thread ----------------------------------------------------------------------
    def _audio_until(self, t: float) -> bool:
        """Take audio blocks until the copy reaches ``t`` or the audio ends; False when stopped."""
        while self._finished_at is None and self.ring.end_time < t - 1e-9:
            try:
                item = self.inbox.get(timeout=0.1)
            except queue.Empty:
                if self._stopped():
                    return False
                continue
            if isinstance(item, _Finished):
                self._finished_at = item.end
            else:
                self.ring.write(item)
        return not self._stopped()

    def _loop(self) -> None:
        windows = VoiceWindows(self.config.voice_window_s)
        if self._windows_state is not None:
            windows.restore(self._windows_state)
        hop = self.config.hop_s
        step = self._start_step
        try:
            while not self._stopped():
                t = round((step + 1) * hop, 6)  # the step times of offline analysis (steps.StepRun.next_t)
                scheduled = schedule(step, 0, self.detect_every, self.config.voice_every)[2]
                step += 1
                if not windows.due(scheduled):
                    continue
                if not self._hold_before(t) or not self._audio_until(t):
                    return
                if self._finished_at is not None and t > self._finished_at + 1e-9:
                    self._done = True  # the steps end here; the worker scores a window past them itself
                    return
                request = windows.request(t, self.ring)
                if request is not None:
                    samples, end = request
                    try:
                        output, error = self.voice.process(samples, end), None
                    except Exception as exc:  # the worker reports it, as if the channel had raised there
                        output, error = None, exc
                    self.computed += 1
                    self.results.put(_Result(end, samples.size, output, error))
        except BaseException as exc:  # handed to the worker's thread, which raises it
            self.results.put(exc)

    def _hold_before(self, t: float) -> bool:
        """Wait while ``t`` lies past a checkpoint that has not been released; False when stopped."""
        if self.hold_every_s <= 0:
            return True
        with self._released:
            while t > (self._holds_released + 1) * self.hold_every_s + 1e-9:
                if self._stopped():
                    return False
                self._released.wait(0.1)
        return not self._stopped()

    def release(self) -> None:
        """The state at the pending checkpoint is saved: the look-ahead may go past it."""
        with self._released:
            self._holds_released += 1
            self._released.notify_all()

    # --- the worker's side ----------------------------------------------------------------------------
    def process(self, samples: np.ndarray, t: float) -> ModalityOutput:
        """The result the look-ahead computed for this window (waiting for it if need be)."""
        if not self._broken:
            while True:
                try:
                    item = self.results.get(timeout=0.1)
                    break
                except queue.Empty:
                    if not self.thread.is_alive() and self.results.empty():
                        item = None
                        break
            if item is None and self._done:
                return self.voice.process(samples, t)  # a step past the end (the last words' estimate)
            if isinstance(item, BaseException):
                raise item
            if item is not None and abs(item.end - t) < 1e-9 and item.size == samples.size:
                if item.error is not None:
                    raise item.error
                assert item.output is not None
                return item.output
            log.error("voice look-ahead out of step at t=%.3f (had %s): scoring in the worker from now on", t,
                      None if item is None else f"t={item.end:.3f}")
            self._broken = True
            self._halt.set()
        self.inline += 1
        return self.voice.process(samples, t)
