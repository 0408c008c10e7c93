"""Live: the voice channel scores its windows on a thread of its own, so no hop waits for the Whisper encoder.

The inference worker hands a window over (``submit``) on the hops its schedule names and picks up whatever has
been scored since (``collect``) on every hop (``newest_thread``: one window at a time, a waiting window replaced by
a newer one). The voice channel's state (the running speaker statistics) is touched by this thread only, except
through ``locked`` (moving the channel to the CPU after a GPU error).

Offline analysis does not use this: it needs every window the schedule names, in order (``voice_ahead``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emolive.core.contracts import ModalityOutput, VoiceLike
from emolive.core.newest_thread import NewestOnlyThread


@dataclass(frozen=True)
class VoiceWindow:
    """Audio to score: ``samples`` (16 kHz mono, the ring's copy) ending at session time ``t``."""

    t: float
    samples: np.ndarray = field(repr=False)


class BackgroundVoice(NewestOnlyThread[VoiceWindow, ModalityOutput]):
    """Scores the newest handed-over voice window on its own thread."""

    def __init__(self, voice: VoiceLike) -> None:
        super().__init__(lambda window: voice.process(window.samples, window.t), name="emolive-voice")

    def submit_window(self, samples: np.ndarray, t: float) -> None:
        """Hand a window over (``AudioRing.between`` already copied it out of the ring)."""
        self.submit(VoiceWindow(t, samples))
