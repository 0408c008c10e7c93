"""The traces' place in the window, filled once the first estimate is shown (the app's launch): pyqtgraph's import
and the plots' set-up were a third of the window's start. ``prepare`` imports pyqtgraph on a helper thread (the
window keeps drawing meanwhile) and then builds the plots on the GUI thread. Until ``build`` it keeps what the window
and the menus ask of the plots (markers, title, pause) and hands it on; then it passes everything on to them."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from emolive.gui.style import PLOTS_MIN_HEIGHT

if TYPE_CHECKING:  # pragma: no cover
    from emolive.gui.history import EstimateHistory
    from emolive.gui.plots import EmotionPlots

log = logging.getLogger(__name__)


class PlotsSlot(QWidget):
    """Stands in for ``EmotionPlots`` until ``build`` makes them (once) inside it."""

    imported = Signal()  # the helper thread of ``prepare`` is done (queued to the GUI thread)

    def __init__(self, window_s: int = 60, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_s = float(window_s)
        self.inner: EmotionPlots | None = None
        self._markers: list[tuple[float, str]] = []
        self._title = ""
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.pause_button = QPushButton("Pause", self)  # the menu's pause follows it; the plots' own, once built
        self.pause_button.setCheckable(True)
        self.pause_button.hide()
        self.pause_button.toggled.connect(self.set_paused)
        self.setMinimumHeight(PLOTS_MIN_HEIGHT)
        self._preparing = False
        self.imported.connect(self.build)

    def prepare(self) -> None:
        """Import the plots' modules (pyqtgraph) on a helper thread, then build them on the GUI thread."""
        if self._preparing or self.inner is not None:
            return
        self._preparing = True
        threading.Thread(target=self._import, name="emolive-plots-import", daemon=True).start()

    def _import(self) -> None:
        try:
            importlib.import_module("emolive.gui.plots")
        except Exception:  # noqa: BLE001 - build() on the GUI thread imports (and reports) it again
            log.debug("importing the plots failed", exc_info=True)
        with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
            self.imported.emit()

    def build(self) -> EmotionPlots:
        """The plots, made now if not yet (on the GUI thread), with what was asked of them before."""
        if self.inner is not None:
            return self.inner
        started = time.perf_counter()
        from emolive.gui.plots import EmotionPlots

        inner = EmotionPlots(window_s=int(self.window_s))
        for t, label in self._markers:
            inner.add_marker(t, label)
        if self._title:
            inner.set_title(self._title)
        inner.set_paused(self.pause_button.isChecked())
        inner.pause_button.toggled.connect(self.pause_button.setChecked)
        self._layout.addWidget(inner)
        self.inner = inner
        log.info("plots built in %.2f s", time.perf_counter() - started)
        return inner

    def add_marker(self, t: float, label: str) -> None:
        if self.inner is not None:
            self.inner.add_marker(t, label)
        else:
            self._markers.append((t, label))

    def clear_markers(self) -> None:
        if self.inner is not None:
            self.inner.clear_markers()
        self._markers.clear()

    def set_title(self, text: str) -> None:
        self._title = text
        if self.inner is not None:
            self.inner.set_title(text)

    def set_paused(self, paused: bool) -> None:
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # comes back here through its signal
            return
        if self.inner is not None:
            self.inner.set_paused(paused)

    def refresh(self, history: EstimateHistory, now: float | None = None) -> None:
        if self.inner is not None:
            self.inner.refresh(history, now)

    def __getattr__(self, name: str) -> Any:
        """Anything else is the plots' (built on first use)."""
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.build(), name)
