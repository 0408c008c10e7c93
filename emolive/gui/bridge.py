"""The one door from worker threads into the GUI thread: callbacks that emit queued Qt signals."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from emolive.core.contracts import EmotionEstimate, SourceEvent, TranscriptSegment

log = logging.getLogger(__name__)


class PipelineBridge(QObject):
    """Pass ``on_estimate``, ``on_segment`` and ``on_event`` to the pipeline as its callbacks.

    They run on worker threads and only emit a signal; because the bridge lives in the GUI thread,
    Qt delivers each signal to GUI-thread slots as a queued call. Nothing else crosses over.
    """

    estimate = Signal(object)  # EmotionEstimate
    segment = Signal(object)  # TranscriptSegment
    event = Signal(object)  # SourceEvent
    ready = Signal(object)  # the pipeline, once built and started (off the GUI thread)
    failed = Signal(str)  # why it could not be built or started

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pipeline: object | None = None  # set by the thread that built it, before ``ready``
        self.outputs: Any = None  # its live outputs (emolive.outputs.hub.LiveOutputs), set with it
        self.closed = False  # set when the window lets go of this pipeline: late callbacks are dropped

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        if not self.closed:
            self.estimate.emit(estimate)

    def on_segment(self, segment: TranscriptSegment) -> None:
        if not self.closed:
            self.segment.emit(segment)

    def on_event(self, event: SourceEvent) -> None:
        if not self.closed:
            self.event.emit(event)


class MessageRelay(QObject):
    """A callable ``(message: str)`` for any worker thread (e.g. the recorder's ``on_error``) -> ``message``."""

    message = Signal(str)

    def __call__(self, message: str) -> None:
        self.message.emit(str(message))
