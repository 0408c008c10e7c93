"""One shape for every part that works in a thread of its own: ``start``, ``stop``, ``join(timeout)``,
``is_alive``, and an ``error`` that says why the thread ended early.

``Lifecycle`` is what an owner (the pipeline, a session) relies on; ``OwnThread`` is the base that capture
sources, the inference worker, the transcriber, the recording writer and the newest-item threads share: one
daemon thread running ``_main``; ``stop`` sets the ``stopping`` event and returns at once. An exception that
escapes ``_main`` is logged, kept in ``error`` and handed to ``_report`` (each kind passes it on its own way:
an error event, an ``on_error`` callback).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class Lifecycle(Protocol):
    """A part with a thread of its own, as its owner sees it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...  # ask it to finish; returns at once

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...


def lower_thread_priority(steps: int) -> bool:
    """Lower the calling thread's CPU priority by ``steps`` nice levels; True if done. Only on Linux, where the
    nice value belongs to a thread: elsewhere it would lower the whole process, so nothing is changed."""
    if steps <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + steps)
    except OSError as exc:
        log.debug("thread priority unchanged: %s", exc)
        return False
    return True


class OwnThread:
    """One daemon thread named ``thread_name`` running ``_main`` (see the module's docstring); ``nice`` lowers
    its CPU priority by that many levels (Linux) so that the threads that keep the pace go first."""

    def __init__(self, thread_name: str, nice: int = 0) -> None:
        self.thread_name = thread_name
        self.nice = nice
        self.stopping = threading.Event()  # set by ``stop``: the thread finishes what it must and ends
        self.error: str | None = None  # why the thread ended early (None: it did not)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.thread_name} already started")
        self._thread = threading.Thread(target=self._run_main, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def in_own_thread(self) -> bool:
        return self._thread is threading.current_thread()

    def _run_main(self) -> None:
        lower_thread_priority(self.nice)
        try:
            self._main()
        except Exception as exc:  # never a silent end: logged, kept and reported
            log.exception("%s crashed", self.thread_name)
            self.error = f"{type(exc).__name__}: {exc}"
            self._report(self.error)
        finally:
            self._ended()

    def _main(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _report(self, message: str) -> None:
        """Pass an error on (default: the log line is all)."""

    def _ended(self) -> None:
        """Called in the thread when ``_main`` has returned or raised."""


def exit_leaving_threads(code: int, left_behind: list[str]) -> None:
    """Exit at once with ``code``, skipping the interpreter's clean-up, because ``left_behind`` threads still run.

    Call it only after everything is written and closed. A thread left inside native code (the transcriber in a
    CTranslate2 decode, seconds long on a loaded machine) makes that clean-up abort the process ("terminate called
    without an active exception", exit 134) or crash it.
    """
    log.warning("exiting without waiting for %s", ", ".join(left_behind))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
