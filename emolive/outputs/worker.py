"""A thread fed through a bounded queue: producers never block, and when it falls behind new items are dropped."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class QueueThread:
    """Calls ``handle(item)`` on its own thread for each item ``offer``-ed; ``offer`` drops (and counts) an item
    when ``max_queue`` are waiting. ``handle`` failing is logged once per kind of error; the thread goes on."""

    def __init__(self, name: str, max_queue: int = 256) -> None:
        self.name = name
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._errors: set[str] = set()

    def handle(self, item: Any) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Called on the thread after the last item."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    def offer(self, item: Any) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("%s falls behind: items are being dropped", self.name)
            return False

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to finish what is queued and end; whether it ended within ``timeout``."""
        thread = self._thread
        if thread is None:
            return True
        while True:
            try:
                self._queue.put(_STOP, timeout=0.05)
                break
            except queue.Full:  # a stuck thread: make room for the stop
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
        thread.join(timeout)
        return not thread.is_alive()

    def _main(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                try:
                    self.handle(item)
                except Exception as exc:  # noqa: BLE001 - one bad item must not end the output
                    kind = type(exc).__name__
                    if kind not in self._errors:
                        self._errors.add(kind)
                        log.exception("%s: %s", self.name, exc)
        finally:
            self.end()
