"""Live partial decodes only while someone can see them: paused while the window is minimised or hidden.

Partial decodes (``asr.live_partials``) show words while they are spoken; each one is a full Whisper pass, most of
the live pipeline's CPU (docs/benchmarks.md, "Where the CPU goes"). While the window is minimised nobody reads
them, so the transcriber decodes each utterance once, when it ends, as ``emolive analyze`` does; the committed
words still reach the fusion, the recording and the outputs, only later in the utterance. When the OBS overlay is
served its page shows the words as they come, so partials go on whatever the window does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

WATCHED = (QEvent.Type.WindowStateChange, QEvent.Type.Hide, QEvent.Type.Show)


class PartialsWhileSeen(QObject):
    """Event filter on ``window`` (a widget with a ``pipeline`` attribute and a ``started`` signal): tells the
    pipeline's ``set_live_partials`` False while the window is minimised or hidden, None (the setting) otherwise.
    ``keep_on()`` True (e.g. the overlay is served) keeps the setting whatever the window does."""

    def __init__(self, window: QWidget, keep_on: Callable[[], bool] = lambda: False) -> None:
        super().__init__(window)
        self._window = window
        self._keep_on = keep_on
        self.paused = False
        window.installEventFilter(self)
        started = getattr(window, "started", None)
        if started is not None:
            started.connect(self.apply)  # a new pipeline (a restart) gets the window's state too

    def unseen(self) -> bool:
        return self._window.isMinimized() or not self._window.isVisible()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self._window and event.type() in WATCHED:
            QTimer.singleShot(0, self, self.apply)  # once the new state has taken effect (not after the window is gone)
        return False

    def apply(self) -> None:
        """Tell the pipeline what the window's state asks for now."""
        pause = self.unseen() and not self._keep_on()
        setter = getattr(getattr(self._window, "pipeline", None), "set_live_partials", None)
        if setter is None:
            return
        setter(False if pause else None)
        if pause != self.paused:
            log.info("live partial transcripts %s", "paused: the window is not seen" if pause else "resumed")
        self.paused = pause
