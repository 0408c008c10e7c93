"""QApplication setup, the default pipeline factory and recorder, and the main window's life cycle."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from emolive.config import AppConfig
from emolive.core.contracts import PipelineSink
from emolive.core.errors import EmoliveError
from emolive.core.threads import exit_leaving_threads
from emolive.gui.interfaces import PipelineFactory, PipelineLike, RecorderLike, Sources
from emolive.gui.main_window import MainWindow
from emolive.gui.partials import PartialsWhileSeen
from emolive.gui.stalls import StallMeter
from emolive.recording import SessionRecorder
from emolive.runtime.pipeline import LivePipeline
from emolive.runtime.preload import ChannelPreload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """Extras of ``emolive run`` for demos and measurements (all off by default)."""

    screenshot: Path | None = None  # save the window as PNG ``after`` seconds once running, then quit
    after: float = 8.0
    measure_stalls: float | None = None  # once running, measure event-loop stalls this many seconds, print, quit
    quit_after: float | None = None


def live_pipeline(config: AppConfig, sources: Sources, sinks: Sequence[PipelineSink],
                  preload: ChannelPreload | None = None) -> PipelineLike:
    """The real pipeline, sending to ``sinks`` (the window's bridge, the recorder); its models from ``preload``
    when that holds this configuration's (the first start: it starts with the face channel, the voice and text
    channels join when loaded), else loaded by the pipeline."""
    staged = preload.take_staged(config.inference, people=config.people) if preload is not None else None
    channels, later = staged if staged is not None else (None, None)
    return LivePipeline(config, video=sources.video, camera=sources.camera, microphone=sources.microphone,
                        asr=sources.asr, loop=sources.loop, sinks=sinks, channels=channels, strict_models=False,
                        later=later, release_at_first_estimate=False)  # the window releases them


def preloaded_pipeline(preload: ChannelPreload) -> PipelineFactory:
    """``live_pipeline`` whose first start takes the models ``preload`` is loading."""
    return functools.partial(live_pipeline, preload=preload)


def make_recorder(config: AppConfig) -> tuple[RecorderLike | None, str]:
    """The session recorder, or (None, why not) when it cannot be made."""
    try:
        return SessionRecorder(config), ""
    except Exception as exc:  # noqa: BLE001 - the app runs without recording
        log.warning("session recorder unavailable: %s", exc)
        return None, str(exc)


def check_qt_binding(python: tuple[int, int] | None = None, pyside: str | None = None) -> None:
    """Refuse PySide6 6.12 on Python < 3.12: it drops a reference to None on every void call, which
    aborts the interpreter ("deallocating None") after a minute of painting."""
    import PySide6

    python = python or sys.version_info[:2]
    pyside = pyside or PySide6.__version__
    if python < (3, 12) and pyside.startswith("6.12"):
        raise EmoliveError(f"PySide6 {pyside} crashes on Python {python[0]}.{python[1]} (a reference-count bug); "
                           "install PySide6-Essentials<6.12 (pip install 'PySide6-Essentials<6.12')")


def application(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created once)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("emolive")
        app.setOrganizationName("emolive")
        apply_dark_theme(app)
    return app  # type: ignore[return-value]


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette, matching the video and plot backgrounds."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    palette = QPalette()
    role = QPalette.ColorRole
    for r, colour in ((role.Window, "#262626"), (role.WindowText, "#e0e0e0"), (role.Base, "#1b1b1b"),
                      (role.AlternateBase, "#2c2c2c"), (role.Text, "#e8e8e8"), (role.Button, "#333333"),
                      (role.ButtonText, "#e0e0e0"), (role.Highlight, "#3d7bd9"), (role.HighlightedText, "#ffffff"),
                      (role.ToolTipBase, "#333333"), (role.ToolTipText, "#f0f0f0"), (role.PlaceholderText, "#8a8a8a"),
                      (role.Link, "#64b5f6")):
        palette.setColor(r, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#777777"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#777777"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor("#777777"))
    app.setPalette(palette)


def run_app(config: AppConfig, sources: Sources, config_path: Path | None = None,
            options: RunOptions | None = None, factory: PipelineFactory = live_pipeline, persist: bool = True) -> int:
    """Open the window, start the pipeline and run the event loop until the window closes.

    ``persist`` False: settings changed in the window are not saved (a run on the defaults after a broken file).
    """
    options = options or RunOptions()
    check_qt_binding()

    app = application()
    recorder, why = make_recorder(config)
    window = MainWindow(config, sources, factory, recorder=recorder, recorder_error=why, config_path=config_path,
                        persist=persist, plots_later=options.measure_stalls is None)  # stalls: the steady state
    PartialsWhileSeen(window, keep_on=lambda: window.config.outputs.overlay)
    window.show()
    QTimer.singleShot(0, window.start)
    meter = StallMeter(parent=window) if options.measure_stalls is not None else None
    pending = {"once": True}

    def running() -> None:  # timed from the first start, not from model loading
        if not pending.pop("once", False):
            return
        if meter is not None:
            meter.start()
            QTimer.singleShot(int(options.measure_stalls * 1000), lambda: (meter.stop(), window.close()))
        if options.screenshot is not None:
            QTimer.singleShot(int(options.after * 1000), lambda: _screenshot(window, options.screenshot))

    window.started.connect(running)
    if options.quit_after is not None:
        QTimer.singleShot(int(options.quit_after * 1000), window.close)
    app.aboutToQuit.connect(window.shutdown)
    previous = _close_on_interrupt(window)
    try:
        code = app.exec()
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGINT, previous)
    window.shutdown()
    if meter is not None:
        print(json.dumps(stall_report(meter, window, options.measure_stalls)))
    if window.session.left_behind:
        exit_leaving_threads(int(code), window.session.left_behind)
    return int(code)



def stall_report(meter: StallMeter, window: MainWindow, seconds: float | None) -> dict[str, float | str]:
    """What `emolive run --measure-stalls N` prints: timer lateness and the window's own redraw cost."""
    return {"what": "event-loop stall (lateness of a 10 ms timer)", "seconds": seconds or 0.0,
            **{k: round(v, 2) for k, v in meter.summary().items()},
            "redraw_p50_ms": _percentile(window.redraw_ms, 50), "redraw_p95_ms": _percentile(window.redraw_ms, 95),
            "estimates": window.estimates_received, "cpus": os.cpu_count() or 0,
            "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else -1.0}


def _close_on_interrupt(window: MainWindow):  # noqa: ANN202 - returns the previous signal handler
    """Ctrl+C in the terminal closes the window cleanly (Qt's loop would otherwise never see SIGINT)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)  # lets the interpreter run the Python-level handler while Qt's loop spins
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return previous


def _percentile(values, q: float) -> float:  # noqa: ANN001 - any sequence of floats
    import numpy as np

    return round(float(np.percentile(list(values), q)), 2) if len(values) else 0.0


def _screenshot(window: MainWindow, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path))
    log.warning("screenshot %s: %s", "saved to" if ok else "could not be saved to", path)
    window.close()
