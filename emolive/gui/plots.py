"""pyqtgraph traces: the 7 emotion confidences, valence/arousal over time and the circumplex view.

The widget never reacts to data events: the main window calls ``refresh(history, now)`` from its
fixed-rate timer. Pausing freezes the time axis; the slider then scrolls back through the session.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from emolive.core.labels import EMOTIONS
from emolive.fusion.circumplex import PLACEMENT
from emolive.gui.history import CHANNELS, EstimateHistory, HistoryView
from emolive.gui.style import AROUSAL_COLOR, EMOTION_COLORS, PLOTS_MIN_HEIGHT, VALENCE_COLOR

log = logging.getLogger(__name__)

WINDOWS_S: tuple[int, ...] = (30, 60, 90, 120)
LIVE_AXIS = "seconds before now"
PAUSED_AXIS = "seconds before the paused view's right edge"
TRAIL_S = 6.0  # the circumplex trail covers this many seconds before the current point
MAX_MARKERS = 20  # markers drawn at once (the newest in view)
MARKER_COLOR = "#ffd54f"
QUADRANTS = (("tense", 0.03, 0.97), ("excited", 0.97, 0.97), ("sad / tired", 0.03, 0.03), ("calm", 0.97, 0.03))
# Each channel's own point on the circumplex (faint; emolive.fusion.va.channel_va), in history.CHANNELS order.
CHANNEL_SYMBOLS: dict[str, str] = {"face": "s", "voice": "t", "text": "o"}


MIN_HEIGHT = PLOTS_MIN_HEIGHT  # controls plus two plots and the nine-entry legend: the splitter keeps at least this


class EmotionPlots(QWidget):
    """Three linked views of the estimate history with pause / scroll-back controls."""

    def __init__(self, window_s: int = 60, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_s = float(window_s)
        self.paused = False
        self._paused_end: float | None = None
        self._scroll_back = 0.0
        self.view_range: tuple[float, float] = (0.0, self.window_s)
        self.points_shown = 0
        self.markers: list[tuple[float, str]] = []  # (session time, label) of the recording's markers
        self._marker_lines: list[pg.InfiniteLine] = []
        pg.setConfigOptions(antialias=False, background="#1b1b1b", foreground="#d0d0d0")
        self._build_controls()
        self._build_plots()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._controls)
        layout.addWidget(self.canvas, 1)
        self.setMinimumHeight(MIN_HEIGHT)

    # --- construction ---------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the traces and scroll back through the session (Space)")
        self.pause_button.toggled.connect(self.set_paused)
        self.window_box = QComboBox()
        for seconds in WINDOWS_S:
            self.window_box.addItem(f"{seconds} s", seconds)
        seconds = int(self.window_s)
        self.window_box.setCurrentIndex(WINDOWS_S.index(seconds) if seconds in WINDOWS_S else 1)
        self.window_box.setToolTip("How much of the session the traces show")
        self.window_box.currentIndexChanged.connect(lambda _: self.set_window(self.window_box.currentData()))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Scroll back through the session (pause first)")
        self.slider.valueChanged.connect(self._slider_moved)
        self.position_label = QLabel("live")
        self.position_label.setMinimumWidth(90)
        self._controls = QHBoxLayout()
        self._controls.setContentsMargins(4, 2, 4, 2)
        for widget in (self.pause_button, QLabel("Window:"), self.window_box):
            self._controls.addWidget(widget)
        self._controls.addWidget(self.slider, 1)
        self._controls.addWidget(self.position_label)

    def _build_plots(self) -> None:
        self.canvas = pg.GraphicsLayoutWidget()
        self.emotion_plot = self.canvas.addPlot(row=0, col=0, title="Emotion probabilities")
        self.va_plot = self.canvas.addPlot(row=1, col=0, title="Valence / arousal")
        self.legend = pg.LegendItem(colCount=1, labelTextSize="9pt", verSpacing=-4)
        self.canvas.addItem(self.legend, row=0, col=1, rowspan=2)
        self.circumplex = self.canvas.addPlot(row=0, col=2, rowspan=2, title="Circumplex (valence x arousal)")
        self.canvas.ci.layout.setColumnStretchFactor(0, 4)
        self.canvas.ci.layout.setColumnStretchFactor(2, 2)
        self.emotion_curves: dict[str, pg.PlotDataItem] = {}
        for name in EMOTIONS:
            curve = self.emotion_plot.plot(pen=pg.mkPen(EMOTION_COLORS[name], width=2), connect="finite")
            self.legend.addItem(curve, name)
            self.emotion_curves[name] = curve
        self.valence_curve = self.va_plot.plot(pen=pg.mkPen(VALENCE_COLOR, width=2), connect="finite")
        self.arousal_curve = self.va_plot.plot(pen=pg.mkPen(AROUSAL_COLOR, width=2), connect="finite")
        self.legend.addItem(self.valence_curve, "valence")
        self.legend.addItem(self.arousal_curve, "arousal")
        self.va_plot.setXLink(self.emotion_plot)
        for plot in (self.emotion_plot, self.va_plot):
            plot.setYRange(0, 1, padding=0.02)
            plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])  # never crowded when short
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            for level in (0.25, 0.5, 0.75):  # a light grid of its own: showGrid would repaint the axes per frame
                plot.addItem(pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen(255, 255, 255, 28)), ignoreBounds=True)
        self.va_plot.setLabel("bottom", LIVE_AXIS)
        self.emotion_plot.setXRange(-self.window_s, 0, padding=0)  # fixed: the axes are not redrawn per frame
        self._build_circumplex()

    def _build_circumplex(self) -> None:
        plot = self.circumplex
        plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setLabel("bottom", "valence")
        plot.setLabel("left", "arousal")
        for pos, angle in ((0.5, 90), (0.5, 0)):
            plot.addItem(pg.InfiniteLine(pos=pos, angle=angle, pen=pg.mkPen("#555555", style=Qt.PenStyle.DashLine)))
        for text, x, y in QUADRANTS:
            anchor = (0 if x < 0.5 else 1, 0 if y > 0.5 else 1)
            item = pg.TextItem(text, color="#888888", anchor=anchor)
            item.setPos(x, y)
            plot.addItem(item)
        self.anchor_labels = self._add_anchors(plot)
        self.trail = pg.PlotDataItem(pen=pg.mkPen(255, 255, 255, 90, width=1.5))
        self.trail_points = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(255, 255, 255, 120))
        self.current_point = pg.ScatterPlotItem(size=16, pen=pg.mkPen("#ffffff", width=2))
        self.channel_points: dict[str, pg.ScatterPlotItem] = {}
        self.channel_labels: dict[str, pg.TextItem] = {}
        for name in CHANNELS:
            item = pg.ScatterPlotItem(size=11, symbol=CHANNEL_SYMBOLS[name], pen=pg.mkPen(255, 255, 255, 110),
                                      brush=pg.mkBrush(255, 255, 255, 40))
            item.setToolTip(f"{name} alone (faint); the filled circle is the fused estimate")
            self.channel_points[name] = item
            plot.addItem(item)
            label = pg.TextItem(name, color=(255, 255, 255, 110), anchor=(0.5, -0.35))  # below its point
            label.hide()
            self.channel_labels[name] = label
            plot.addItem(label)
        for item in (self.trail, self.trail_points, self.current_point):
            plot.addItem(item)

    @staticmethod
    def _add_anchors(plot: pg.PlotItem) -> list[pg.TextItem]:
        """Faint diamonds, each labelled, where the fusion places each emotion class (emolive.fusion.circumplex)."""
        names = [name for name in EMOTIONS if name in PLACEMENT]
        anchors = pg.ScatterPlotItem(
            [PLACEMENT[n][0] for n in names], [PLACEMENT[n][1] for n in names], size=10, symbol="d",
            pen=None, brush=[pg.mkBrush(_faint(EMOTION_COLORS[n])) for n in names])
        anchors.setToolTip("Where the fusion places each emotion class (Model > Model info)")
        plot.addItem(anchors)
        labels = []
        for name in names:
            x, y = PLACEMENT[name][0], PLACEMENT[name][1]
            label = pg.TextItem(name, color=_faint(EMOTION_COLORS[name], 200), anchor=(0 if x < 0.8 else 1, 0.5))
            label.setPos(x + (0.025 if x < 0.8 else -0.025), y)
            plot.addItem(label)
            labels.append(label)
        return labels

    # --- controls -------------------------------------------------------------------------------
    def set_window(self, seconds: float) -> None:
        self.window_s = float(seconds)
        self.emotion_plot.setXRange(-self.window_s, 0, padding=0)

    def set_paused(self, paused: bool) -> None:
        """Freeze (or resume following) the live end of the traces."""
        self.paused = bool(paused)
        if self.pause_button.isChecked() != self.paused:
            self.pause_button.setChecked(self.paused)
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self._paused_end = self.view_range[1] if self.paused else None
        self._scroll_back = 0.0
        self.slider.blockSignals(True)
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self.slider.setEnabled(self.paused)
        self.position_label.setText("paused" if self.paused else "live")
        self.va_plot.setLabel("bottom", PAUSED_AXIS if self.paused else LIVE_AXIS)

    def scroll_to(self, end_t: float) -> None:
        """While paused, show the window ending at session time ``end_t``."""
        if self.paused and self._paused_end is not None:
            self._scroll_back = max(0.0, self._paused_end - end_t)

    def _slider_moved(self, value: int) -> None:
        if self._paused_end is not None:
            self._scroll_back = (self.slider.maximum() - value) / 10.0
            self.position_label.setText(f"-{self._scroll_back:.1f} s")

    # --- redraw ---------------------------------------------------------------------------------
    def refresh(self, history: EstimateHistory, now: float | None = None) -> None:
        """Redraw from ``history``; ``now`` (session time) moves the axis even when no estimate arrives."""
        live_end = max(history.end, now or 0.0)
        if self.paused and self._paused_end is not None:
            end = self._paused_end - self._scroll_back
            span = max(0, int(round((self._paused_end - history.start) * 10)))
            if self.slider.maximum() != span:
                self.slider.blockSignals(True)
                self.slider.setRange(0, span)
                self.slider.setValue(span - int(round(self._scroll_back * 10)))
                self.slider.blockSignals(False)
        else:
            end = live_end
        start = end - self.window_s
        self.view_range = (start, end)
        view = history.window(start, end)
        self._draw_traces(view, end)
        self._draw_circumplex(view)
        self.points_shown = len(view)

    def set_title(self, text: str) -> None:
        """The emotion plot's title (e.g. whose traces these are)."""
        self.emotion_plot.setTitle(text)

    def add_marker(self, t: float, label: str) -> None:
        """Show a recording marker at session time ``t`` on the traces."""
        self.markers.append((t, label))

    def clear_markers(self) -> None:
        """Forget the markers (a new session clock starts: their times mean nothing on it)."""
        self.markers.clear()
        for line in self._marker_lines:
            line.hide()

    def visible_markers(self) -> list[tuple[float, str]]:
        """(x position, label) of the markers drawn now."""
        return [(line.value(), line.label.toPlainText()) for line in self._marker_lines if line.isVisible()]

    def _draw_markers(self, start: float, end: float) -> None:
        shown = [(t, label) for t, label in self.markers if start <= t <= end][-MAX_MARKERS:]
        while len(self._marker_lines) < len(shown):  # a few reusable lines, positioned each redraw
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(MARKER_COLOR, width=1, style=Qt.PenStyle.DashLine),
                                   label="", labelOpts={"position": 0.92, "color": MARKER_COLOR})
            self.emotion_plot.addItem(line, ignoreBounds=True)
            self._marker_lines.append(line)
        for i, line in enumerate(self._marker_lines):
            if i < len(shown):
                t, label = shown[i]
                line.setValue(t - end)
                if line.label.toPlainText() != label:
                    line.label.setText(label)
                line.show()
            else:
                line.hide()

    def _draw_traces(self, view: HistoryView, end: float) -> None:
        self._draw_markers(end - self.window_s, end)
        x = view.t - end  # seconds before the right edge: the axis range never changes
        for i, name in enumerate(EMOTIONS):
            self.emotion_curves[name].setData(x, view.emotion[:, i])
        self.valence_curve.setData(x, view.valence)
        self.arousal_curve.setData(x, view.arousal)

    def _draw_circumplex(self, view: HistoryView) -> None:
        last = view.channels[-1] if len(view) and view.channels is not None else np.full((len(CHANNELS), 2), np.nan)
        for i, name in enumerate(CHANNELS):
            shown = bool(np.isfinite(last[i]).all())
            self.channel_points[name].setData(*(([last[i, 0]], [last[i, 1]]) if shown else ([], [])))
            self.channel_labels[name].setVisible(shown)
            if shown:
                self.channel_labels[name].setPos(float(last[i, 0]), float(last[i, 1]))
        if not len(view):
            for item in (self.trail, self.trail_points, self.current_point):
                item.setData([], [])
            return
        recent = (view.t >= view.t[-1] - TRAIL_S) & np.isfinite(view.valence)
        v, a = view.valence[recent], view.arousal[recent]
        if not v.size or not np.isfinite(view.valence[-1]):  # no input now: no current point, no trail
            for item in (self.trail, self.trail_points, self.current_point):
                item.setData([], [])
            return
        self.trail.setData(v, a)
        step = max(1, v.size // 12)  # a dozen dots along the trail; one shared brush keeps this cheap
        self.trail_points.setData(v[::-step][::-1], a[::-step][::-1])
        dominant = EMOTIONS[int(np.argmax(view.emotion[-1]))]
        self.current_point.setData([v[-1]], [a[-1]], brush=pg.mkBrush(EMOTION_COLORS[dominant]))


def _faint(hex_color: str, alpha: int = 110) -> QColor:
    color = QColor(hex_color)
    color.setAlpha(alpha)
    return color
