"""The live video with the overlay: face boxes, dominant emotion, per-modality indicators. One box and label per
person in view; a click on a person's box asks for their name, a right-click offers to pin them (``person_clicked``)."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from emolive.core.contracts import EmotionEstimate, FaceBox, VideoFrame
from emolive.gui.overlay import (
    ESTIMATE_STALE_S,
    OverlayOptions,
    agreement_chip,
    chip_text,
    indicators,
    label_text,
    label_top,
    latency_text,
    person_label,
    primary_index,
)
from emolive.gui.style import EMOTION_COLORS, EMOTION_EMOJI, INDICATOR_COLORS

log = logging.getLogger(__name__)


def frame_to_image(image: np.ndarray) -> QImage:
    """Wrap a BGR uint8 array as a QImage without copying (the caller keeps the array alive)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.shape} {image.dtype}")
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888)


def emoji_font_available() -> bool:
    """Whether an installed font family looks like an emoji font (else emoji would paint as empty boxes)."""
    from PySide6.QtGui import QFontDatabase

    return any("emoji" in family.lower() for family in QFontDatabase.families())


def fit_rect(width: int, height: int, area: QRectF) -> QRectF:
    """The largest rectangle of aspect ``width:height`` centred in ``area``."""
    if width <= 0 or height <= 0:
        return QRectF(area)
    scale = min(area.width() / width, area.height() / height)
    w, h = width * scale, height * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


class VideoView(QWidget):
    """Paints the latest frame and the latest estimate; set them, then ``update()`` (the main timer does)."""

    person_clicked = Signal(int, str, QPoint, bool)  # person id, their name, global position, right button

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = OverlayOptions()
        self.pinned: int | None = None  # the person pinned as primary (their label says so)
        self.frame: VideoFrame | None = None
        self.estimate: EmotionEstimate | None = None
        self.loading: tuple[str, ...] = ()  # channels still loading after the start (their chips say so)
        self.placeholder = "Waiting for video..."
        self.notice = ""  # drawn over a frozen picture, e.g. "no new frames for 4 s"
        self._array: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._image: QImage | None = None
        self._source_size = (0, 0)  # the frame's own width and height (face boxes are in these pixels)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(True)  # a hand over a person's box: it can be clicked

    def set_frame(self, frame: VideoFrame | None) -> bool:
        """Show ``frame``; False (and nothing to repaint) when it is the frame already shown.

        The image is scaled to the widget here with OpenCV (fast, and it releases the GIL), so the
        paint event only copies pixels.
        """
        if frame is None or (self.frame is not None and frame.index == self.frame.index and frame.t == self.frame.t):
            return False
        self.frame = frame
        image = frame.image
        self._source_size = (image.shape[1], image.shape[0])
        target = fit_rect(image.shape[1], image.shape[0], QRectF(self.rect()))
        ratio = self.devicePixelRatioF()
        width, height = int(round(target.width() * ratio)), int(round(target.height() * ratio))
        if width > 0 and height > 0 and (width, height) != self._source_size:
            import cv2

            interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
            image = cv2.resize(image, (width, height), interpolation=interpolation)
        self._array = np.ascontiguousarray(image)
        self._image = frame_to_image(self._array)
        return True

    def set_estimate(self, estimate: EmotionEstimate | None) -> None:
        self.estimate = estimate

    # --- people: click a box -----------------------------------------------------------------------
    def person_at(self, pos: QPointF) -> FaceBox | None:
        """The person's box under ``pos`` (widget coordinates), the smallest when boxes overlap; None if none."""
        if self.estimate is None or self._image is None or not self._source_size[0]:
            return None
        target = fit_rect(*self._source_size, QRectF(self.rect()))
        scale = target.width() / self._source_size[0]
        x, y = (pos.x() - target.x()) / scale, (pos.y() - target.y()) / scale
        hits = [f for f in self.estimate.faces if f.person_id is not None
                and f.x <= x <= f.x + f.w and f.y <= y <= f.y + f.h]
        return min(hits, key=lambda f: f.w * f.h, default=None)

    def mousePressEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        face = self.person_at(event.position())
        right = event.button() == Qt.MouseButton.RightButton
        if face is None or face.person_id is None or event.button() not in (Qt.MouseButton.LeftButton,
                                                                             Qt.MouseButton.RightButton):
            super().mousePressEvent(event)
            return
        self.person_clicked.emit(face.person_id, face.person, event.globalPosition().toPoint(), right)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        over = self.person_at(event.position()) is not None
        self.setCursor(Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor)
        self.setToolTip("Click to name this person; right-click to pin them" if over else "")
        super().mouseMoveEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        frame, self.frame = self.frame, None
        if frame is not None:
            self.set_frame(frame)  # rescale the shown frame to the new size

    def clear(self, placeholder: str = "Waiting for video...") -> None:
        self.frame, self._array, self._image, self.estimate = None, None, None, None
        self.placeholder = placeholder
        self.update()

    # --- painting -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#101010"))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            if self._image is None:
                painter.setPen(QColor("#bdbdbd"))
                painter.setFont(QFont(self.font().family(), 13))
                flags = int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap)
                painter.drawText(self.rect().adjusted(40, 40, -40, -40), flags, self.placeholder)
                target = QRectF(self.rect())
            else:
                target = fit_rect(*self._source_size, QRectF(self.rect()))
                painter.drawImage(target, self._image)
            self._paint_overlay(painter, target)
            if self.notice and self._image is not None:
                self._paint_notice(painter, target)
        finally:
            painter.end()

    def _paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        estimate, opts = self.estimate, self.options
        if estimate is not None:
            stale = self.frame is not None and self.frame.t - estimate.t > ESTIMATE_STALE_S
            painter.setOpacity(0.45 if stale else 1.0)
            color = QColor(EMOTION_COLORS.get(estimate.dominant, "#ffffff") if opts.colors else "#ffffff")
            scale = target.width() / self._source_size[0] if self._image is not None else 1.0
            anchor = QRectF(target.x() + 12, target.y() + 12, 0, 0)
            main = primary_index(estimate)
            emoji = EMOTION_EMOJI.get(estimate.dominant, "") if opts.emoji else ""
            for i, face in enumerate(estimate.faces):
                box = QRectF(target.x() + face.x * scale, target.y() + face.y * scale, face.w * scale, face.h * scale)
                if i == main:
                    anchor = box
                if opts.face_box:
                    painter.setPen(QPen(color if i == main else QColor("#9e9e9e"), 3 if i == main else 1.5))
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.drawRect(box)
                if opts.label and i != main and face.person:  # another person: their name and their face
                    self._paint_label(painter, person_label(estimate, face, False, face.person_id == self.pinned),
                                      box, target, QColor("#e0e0e0"), size=11)
            if opts.label:
                face = estimate.faces[main] if main >= 0 else None
                text = (person_label(estimate, face, True, face.person_id == self.pinned, emoji)
                        if face is not None else label_text(estimate, emoji))
                self._paint_label(painter, text, anchor, target, color)
            if opts.latency:
                self._paint_latency(painter, estimate, target)
            painter.setOpacity(1.0)
        if opts.indicators:
            self._paint_indicators(painter, target)

    def _paint_notice(self, painter: QPainter, target: QRectF) -> None:
        painter.setFont(QFont(self.font().family(), 12, QFont.Weight.Bold))
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(self.notice) + 24, metrics.height() + 12
        box = QRectF(target.center().x() - w / 2, target.center().y() - h / 2, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 190))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor("#ffb74d"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.notice)

    def _paint_label(self, painter: QPainter, text: str, anchor: QRectF, target: QRectF, color: QColor,
                     size: int = 14) -> None:
        font = QFont(self.font().family(), size, QFont.Weight.Bold)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 16, metrics.height() + 8
        x = min(max(anchor.x(), target.x()), target.right() - w)
        box = QRectF(x, label_top(anchor.y(), anchor.bottom(), h, target.y(), target.bottom()), w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(color)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_latency(self, painter: QPainter, estimate: EmotionEstimate, target: QRectF) -> None:
        total = dict(estimate.latency_ms).get("total")
        text = latency_text(total, estimate.degraded)
        if not text:
            return
        painter.setFont(QFont(self.font().family(), 9))
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        # bottom right, above the indicator chips (which can reach across a narrow view)
        box = QRectF(target.right() - w - 8, self._chip_row(target)[2] - h - 6, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor("#ffcc80") if estimate.degraded else QColor("#e0e0e0"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _chip_row(self, target: QRectF) -> tuple[QFont, float, float]:
        """Font, height and top edge of the modality chips' row (bottom left of the picture)."""
        font = QFont(self.font().family(), 10)
        height = QFontMetrics(font).height() + 8
        return font, height, target.bottom() - height - 8

    def _paint_indicators(self, painter: QPainter, target: QRectF) -> None:
        font, h, y = self._chip_row(target)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        x = target.x() + 8
        chips = [(chip_text(item), item.state) for item in indicators(self.estimate, self.loading)]
        agree = agreement_chip(self.estimate)
        if agree is not None:
            chips.append(agree)
            room = target.width() - 16 - sum(metrics.horizontalAdvance(t) + h + 16 for t, _ in chips)
            if room < 0:  # a narrow picture: "disagree 0.21" instead of "channels disagree 0.21"
                chips[-1] = (agree[0].removeprefix("channels "), agree[1])
        for text, state in chips:
            w = metrics.horizontalAdvance(text) + h + 10
            chip = QRectF(x, y, w, h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 170))
            painter.drawRoundedRect(chip, h / 2, h / 2)
            painter.setBrush(QColor(INDICATOR_COLORS[state]))
            painter.drawEllipse(QRectF(x + 5, y + 5, h - 10, h - 10))
            painter.setPen(QColor("#eeeeee"))
            painter.drawText(chip.adjusted(h, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, text)
            x += w + 6
