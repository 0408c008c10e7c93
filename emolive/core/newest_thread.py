"""A thread that works on the newest item handed to it: one item at a time, stale ones dropped, never queued.

Used live for the costly parts of a hop (the voice window, face detection) so that no hop waits for them: the
hop hands its item over (``submit``) and picks up what has been finished since (``collect``). An item handed over
while another is being worked on waits in a single slot, where a newer one replaces it. Errors are handed back
with the item's result, for the caller to report in its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from emolive.core.threads import OwnThread

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")


@dataclass(frozen=True)
class Finished(Generic[In, Out]):
    """One item's result (or the error its work raised) and how long the work took."""

    item: In
    result: Out | None
    error: Exception | None
    compute_ms: float


class NewestOnlyThread(OwnThread, Generic[In, Out]):
    """Runs ``work(item)`` on its own thread (``OwnThread``) for the newest item handed over."""

    def __init__(self, work: Callable[[In], Out], name: str, nice: int = 0) -> None:
        super().__init__(name, nice)
        self.work = work
        self.replaced = 0  # items dropped because a newer one came before they were started
        self._pending: In | None = None
        self._has_pending = False
        self._done: list[Finished[In, Out]] = []
        self._busy = False
        self._cond = threading.Condition()
        self._work_lock = threading.Lock()

    def submit(self, item: In) -> None:
        """Hand an item over; it replaces an item still waiting to be started."""
        with self._cond:
            if self._has_pending:
                self.replaced += 1
            self._pending, self._has_pending = item, True
            self._cond.notify()

    def collect(self) -> list[Finished[In, Out]]:
        """The items finished since the last call, oldest first."""
        with self._cond:
            done, self._done = self._done, []
        return done

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is waiting or being worked on; False if still busy after ``timeout`` seconds (or the
        thread is gone)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._has_pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def locked(self, action: Callable[[], T]) -> T:
        """Run ``action`` while no item is being worked on (e.g. moving a model to another device)."""
        with self._work_lock:
            return action()

    def stop(self) -> None:
        """The item being worked on is finished; one still waiting is dropped."""
        with self._cond:
            super().stop()
            self._pending, self._has_pending = None, False
            self._cond.notify_all()

    def close(self, timeout: float) -> None:
        """``stop``, then wait up to ``timeout`` seconds for the item being worked on."""
        self.stop()
        self.join(timeout)

    def _main(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self.stopping.is_set():
                    self._cond.wait()
                if self.stopping.is_set():
                    self._cond.notify_all()
                    return
                item, self._pending, self._has_pending, self._busy = self._pending, None, False, True
            t0 = time.perf_counter()
            result: Out | None = None
            error: Exception | None = None
            with self._work_lock:
                try:
                    result = self.work(item)  # type: ignore[arg-type]
                except Exception as exc:  # handed back: the caller reports it in its own thread
                    error = exc
            finished = Finished(item, result, error, (time.perf_counter() - t0) * 1000)
            with self._cond:
                self._done.append(finished)
                self._busy = False
                self._cond.notify_all()
