"""Status bar fields (capture fps, step latency vs budget, device, ASR lag, recording) and the error banner."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStatusBar, QWidget

from emolive.core.contracts import PipelineStatus

FIELDS: tuple[str, ...] = ("fps", "latency", "device", "asr", "recording", "outputs")
WARN_STYLE = "color:#ff8a65; font-weight:bold;"
MAX_MESSAGES = 5


@dataclass(frozen=True)
class StatusField:
    key: str
    text: str
    warn: bool = False
    tip: str = ""


def _asr_text(asr: bool, lag: float | None, skipped: float | None) -> str:
    if not asr:
        return "transcription off"
    if lag is None:
        return "transcript --"
    text = f"transcript {lag:.1f} s behind"
    if skipped:
        text += f", {skipped:.0f} s skipped"  # the tooltip says why
    return text


def format_status(status: PipelineStatus | None, recording: str = "", asr: bool = True,
                  outputs: str = "") -> list[StatusField]:
    """Turn ``LivePipeline.status()`` (None: no pipeline running) into the status bar's fields; ``outputs``: the
    live outputs that run (LiveOutputs.describe())."""
    status = status or PipelineStatus()
    fps, dropped = status.capture_fps, status.dropped_steps
    p50, p95, budget = status.step_p50_ms, status.step_p95_ms, status.budget_ms
    lag, skipped = status.asr_lag_s, status.asr_skipped_s
    latency = "step --"
    if p50 is not None and p95 is not None:
        latency = f"step p50 {p50:.0f} / p95 {p95:.0f} ms"
        if budget is not None:
            latency += f" (budget {budget:.0f})"
    if dropped:
        latency += f", {dropped} dropped"
    device = (status.device or "--").upper()
    return [
        StatusField("fps", "no picture (audio only)" if not status.picture else
                    f"capture {fps:.1f} fps" if fps is not None else "capture -- fps",
                    warn=status.picture and fps is not None and fps < 10, tip="frames captured per second"),
        StatusField("latency", latency, warn=p95 is not None and budget is not None and p95 > budget,
                    tip="inference step time, median and 95th percentile, against the latency budget"),
        StatusField("device", device, tip="where the models run"),
        StatusField("asr", _asr_text(asr, lag, skipped), warn=(lag is not None and lag > 3.0) or bool(skipped),
                    tip="how far the transcript trails the audio; when it falls behind, the oldest unread audio "
                        "is skipped (not transcribed) so that the words stay current"),
        StatusField("recording", recording or "not recording", warn=bool(recording),
                    tip="session recording (Session menu)"),
        StatusField("outputs", f"out: {outputs}" if outputs else "",
                    tip="live outputs: Lab Streaming Layer, WebSocket and OBS overlay (Session menu)"),
    ]


class StatusPanel:
    """Permanent labels in a QStatusBar, one per field; ``show(fields)`` updates them."""

    def __init__(self, bar: QStatusBar) -> None:
        self.labels: dict[str, QLabel] = {}
        for key in FIELDS:
            label = QLabel("--")
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
            self.labels[key] = label

    def show(self, fields: list[StatusField]) -> None:
        for field in fields:
            label = self.labels.get(field.key)
            if label is None:
                continue
            if label.text() != field.text:
                label.setText(field.text)
            style = WARN_STYLE if field.warn else ""
            if label.styleSheet() != style:
                label.setStyleSheet(style)
            label.setToolTip(field.tip)

    def text(self) -> str:
        return " | ".join(label.text() for label in self.labels.values())


class ErrorBanner(QFrame):
    """A dismissable strip above the video that says what went wrong; the app keeps running."""

    retry = Signal()
    open_video = Signal()  # "Open a video file..." (offered when there is no camera)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background:#5d1f1a; border-radius:4px; } QLabel { color:#ffdad4; }")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Restart the sources and workers")
        self.retry_button.clicked.connect(self.retry.emit)
        self.open_video_button = QPushButton("Open a video file...")
        self.open_video_button.setToolTip("Replay a video file as if it were live")
        self.open_video_button.clicked.connect(self.open_video.emit)
        self.open_video_button.hide()
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.open_video_button)
        layout.addWidget(self.retry_button)
        layout.addWidget(dismiss)
        self.messages: list[str] = []
        self.hide()

    def add(self, message: str) -> None:
        """Show ``message`` (the newest ``MAX_MESSAGES`` distinct messages are kept)."""
        if message in self.messages:
            self.messages.remove(message)
        self.messages = [*self.messages, message][-MAX_MESSAGES:]
        self.message.setText("\n".join(self.messages))
        no_camera = any("camera" in m.lower() and ("not found" in m.lower() or "without a camera" in m.lower()
                                                   or "no camera" in m.lower()) for m in self.messages)
        self.open_video_button.setVisible(no_camera)
        self.show()

    def dismiss(self) -> None:
        self.messages = []
        self.message.clear()
        self.open_video_button.hide()
        self.hide()
