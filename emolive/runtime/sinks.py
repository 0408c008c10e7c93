"""Fan-out of a pipeline's output to its subscribed sinks (the GUI, the recorder, a benchmark's counters)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from emolive.core.contracts import EmotionEstimate, PipelineSink, SourceEvent, TranscriptSegment

log = logging.getLogger(__name__)


def _ignore(_: Any) -> None:
    return None


@dataclass(frozen=True)
class CallbackSink:
    """A sink made of plain callables (each optional)."""

    estimate: Callable[[EmotionEstimate], None] = _ignore
    segment: Callable[[TranscriptSegment], None] = _ignore
    event: Callable[[SourceEvent], None] = _ignore

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        self.estimate(estimate)

    def on_segment(self, segment: TranscriptSegment) -> None:
        self.segment(segment)

    def on_event(self, event: SourceEvent) -> None:
        self.event(event)


class SinkList:
    """The pipeline's subscribers; itself a sink that passes every item to each of them in order.

    Any thread may publish while another subscribes: the list is replaced, never changed in place. A sink
    that raises is logged and skipped; the others and the publishing worker go on.
    """

    def __init__(self, sinks: Iterable[PipelineSink] = ()) -> None:
        self._sinks: tuple[PipelineSink, ...] = tuple(sinks)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[PipelineSink]:
        return iter(self._sinks)  # a snapshot

    def __len__(self) -> int:
        return len(self._sinks)

    def subscribe(self, sink: PipelineSink) -> None:
        with self._lock:
            if sink not in self._sinks:
                self._sinks = (*self._sinks, sink)

    def unsubscribe(self, sink: PipelineSink) -> None:
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

    def clear(self) -> None:
        with self._lock:
            self._sinks = ()

    def _each(self, what: str, call: Callable[[PipelineSink], None]) -> None:
        for sink in self._sinks:
            try:
                call(sink)
            except Exception:  # noqa: BLE001 - one broken subscriber must not stop the worker or the others
                log.exception("%s.%s failed", type(sink).__name__, what)

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        self._each("on_estimate", lambda sink: sink.on_estimate(estimate))

    def on_segment(self, segment: TranscriptSegment) -> None:
        self._each("on_segment", lambda sink: sink.on_segment(segment))

    def on_event(self, event: SourceEvent) -> None:
        self._each("on_event", lambda sink: sink.on_event(event))
