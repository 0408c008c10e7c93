"""The current estimate at a glance: one bar per emotion and sentiment, valence/arousal and fusion weights."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from emolive.core.contracts import EmotionEstimate
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.gui.style import EMOTION_COLORS, SENTIMENT_COLORS

ROW_H = 17  # a bar's row when there is room
MIN_ROW_H = 13  # ... and when the window is small
ROWS = len(EMOTIONS) + len(SENTIMENTS) + 4


def summary_line(estimate: EmotionEstimate) -> str:
    """``confidence 0.62  valence 0.74  arousal 0.59 | weights face 0.50 ...`` (weights when the fuser gives them)."""
    text = f"confidence {estimate.confidence:.2f}   valence {estimate.valence:.2f}   arousal {estimate.arousal:.2f}"
    if estimate.weights:
        text += "\nweights " + "   ".join(f"{name} {w:.2f}" for name, w in estimate.weights)
    return text


class EstimateBars(QWidget):
    """Paints the latest estimate's probabilities as bars; ``set_estimate`` then ``update`` (timer-driven)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.estimate: EmotionEstimate | None = None
        self.setMinimumHeight(ROWS * MIN_ROW_H + 12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(300, ROWS * ROW_H + 12)

    @property
    def row_height(self) -> float:
        """Rows shrink from ROW_H to MIN_ROW_H with the widget (a small window keeps every bar)."""
        return max(float(MIN_ROW_H), min(float(ROW_H), (self.height() - 12) / ROWS))

    def set_estimate(self, estimate: EmotionEstimate | None) -> bool:
        if estimate is self.estimate:
            return False
        self.estimate = estimate
        return True

    def paintEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), self.palette().base())
            painter.setFont(QFont(self.font().family(), 9))
            estimate = self.estimate
            y, row = 6.0, self.row_height
            emotion = estimate.emotion if estimate is not None else (0.0,) * len(EMOTIONS)
            for name, p in zip(EMOTIONS, emotion, strict=False):
                bold = estimate is not None and name == estimate.dominant
                self._bar(painter, y, name, p, EMOTION_COLORS[name], bold, row)
                y += row
            y += row / 2
            sentiment = estimate.sentiment if estimate is not None else (0.0,) * len(SENTIMENTS)
            for name, p in zip(SENTIMENTS, sentiment, strict=False):
                self._bar(painter, y, name, p, SENTIMENT_COLORS[name], False, row)
                y += row
            painter.setPen(self.palette().text().color())
            text = summary_line(estimate) if estimate is not None else "waiting for the first estimate"
            painter.drawText(QRectF(8, y + 4, self.width() - 16, 2 * ROW_H), Qt.AlignmentFlag.AlignLeft, text)
        finally:
            painter.end()

    def _bar(self, painter: QPainter, y: float, name: str, p: float, colour: str, bold: bool,
             row: float = ROW_H) -> None:
        label_w, value_w = 70.0, 44.0
        font = painter.font()
        font.setBold(bold)
        painter.setFont(font)
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(8, y, label_w, row), Qt.AlignmentFlag.AlignVCenter, name)
        track = QRectF(8 + label_w, y + 3, max(10.0, self.width() - label_w - value_w - 24), row - 6)
        painter.fillRect(track, QColor("#333333"))
        painter.fillRect(QRectF(track.x(), track.y(), track.width() * max(0.0, min(1.0, p)), track.height()),
                         QColor(colour))
        painter.drawText(QRectF(track.right() + 6, y, value_w, row),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{p * 100:.0f}%")
