"""The current estimate at a glance: one bar per emotion and sentiment, valence/arousal and fusion weights."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from emolive.core.contracts import EmotionEstimate
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.gui.style import EMOTION_COLORS, SENTIMENT_COLORS

ROW_H = 17


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
        rows = len(EMOTIONS) + len(SENTIMENTS) + 4
        self.setMinimumHeight(rows * ROW_H + 12)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

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
            y = 6.0
            emotion = estimate.emotion if estimate is not None else (0.0,) * len(EMOTIONS)
            for name, p in zip(EMOTIONS, emotion, strict=False):
                bold = estimate is not None and name == estimate.dominant
                self._bar(painter, y, name, p, EMOTION_COLORS[name], bold)
                y += ROW_H
            y += ROW_H / 2
            sentiment = estimate.sentiment if estimate is not None else (0.0,) * len(SENTIMENTS)
            for name, p in zip(SENTIMENTS, sentiment, strict=False):
                self._bar(painter, y, name, p, SENTIMENT_COLORS[name], False)
                y += ROW_H
            painter.setPen(self.palette().text().color())
            text = summary_line(estimate) if estimate is not None else "waiting for the first estimate"
            painter.drawText(QRectF(8, y + 4, self.width() - 16, 2 * ROW_H), Qt.AlignmentFlag.AlignLeft, text)
        finally:
            painter.end()

    def _bar(self, painter: QPainter, y: float, name: str, p: float, colour: str, bold: bool) -> None:
        label_w, value_w = 70.0, 44.0
        font = painter.font()
        font.setBold(bold)
        painter.setFont(font)
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(8, y, label_w, ROW_H), Qt.AlignmentFlag.AlignVCenter, name)
        track = QRectF(8 + label_w, y + 3, max(10.0, self.width() - label_w - value_w - 24), ROW_H - 6)
        painter.fillRect(track, QColor("#333333"))
        painter.fillRect(QRectF(track.x(), track.y(), track.width() * max(0.0, min(1.0, p)), track.height()),
                         QColor(colour))
        painter.drawText(QRectF(track.right() + 6, y, value_w, ROW_H),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{p * 100:.0f}%")
