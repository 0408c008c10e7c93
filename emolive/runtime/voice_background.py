"""Live: the voice channel scores its windows in a thread of its own, so no hop waits for the Whisper encoder.

The inference worker hands a window over (``submit``) on the hops its schedule names and picks up whatever has
been scored since (``collect``) on every hop. One window is scored at a time; a window handed over while another
is being scored waits in a single slot, where a newer one replaces it (stale work is dropped, never queued).
The voice channel's state (the running speaker statistics) is touched by this thread only, except through
``locked`` (moving the channel to the CPU after a GPU error).

Offline analysis does not use this: it needs every window the schedule names, in order (``voice_ahead``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from emolive.contracts import ModalityOutput, VoiceLike

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class VoiceWindow:
    """Audio to score: ``samples`` (16 kHz mono, a copy) ending at session time ``t``."""

    t: float
    samples: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class VoiceScored:
    """What the channel said about the window ending at ``t`` (or the error it raised), and how long it took."""

    t: float
    output: ModalityOutput | None
    error: Exception | None
    compute_ms: float


class BackgroundVoice:
    """Scores the newest handed-over voice window on its own thread."""

    def __init__(self, voice: VoiceLike) -> None:
        self.voice = voice
        self.scored = 0  # windows scored
        self.replaced = 0  # windows dropped because a newer one came before they were started
        self._pending: VoiceWindow | None = None
        self._done: list[VoiceScored] = []
        self._busy = False
        self._stop = False
        self._cond = threading.Condition()
        self._channel_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="emolive-voice", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, samples: np.ndarray, t: float) -> None:
        """Hand a window over; it replaces a window still waiting to be started."""
        window = VoiceWindow(t, np.array(samples, dtype=np.float32, copy=True))
        with self._cond:
            if self._pending is not None:
                self.replaced += 1
            self._pending = window
            self._cond.notify()

    def collect(self) -> list[VoiceScored]:
        """The windows scored since the last call, oldest first."""
        with self._cond:
            done, self._done = self._done, []
        return done

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being scored."""
        with self._cond:
            return self._pending is None and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Wait until ``idle`` (tests, stopping); False if it is still busy after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def locked(self, action: Callable[[], T]) -> T:
        """Run ``action`` on the channel while no window is being scored."""
        with self._channel_lock:
            return action()

    def stop(self) -> None:
        """The window being scored is finished; one still waiting is dropped."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    self._cond.notify_all()
                    return
                window, self._pending, self._busy = self._pending, None, True
            t0 = time.perf_counter()
            output: ModalityOutput | None = None
            error: Exception | None = None
            with self._channel_lock:
                try:
                    output = self.voice.process(window.samples, window.t)
                except Exception as exc:  # the worker reports it on its next hop
                    error = exc
            scored = VoiceScored(window.t, output, error, (time.perf_counter() - t0) * 1000)
            with self._cond:
                self._done.append(scored)
                self.scored += 1
                self._busy = False
                self._cond.notify_all()
