"""The live transcript: committed lines tagged with their sentiment, the partial tail in grey italics."""

from __future__ import annotations

import html

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from emolive.gui.style import SENTIMENT_COLORS
from emolive.gui.transcript import TranscriptModel

PARTIAL_STYLE = "color:#9e9e9e; font-style:italic;"
TAG_STYLE = "color:{color}; font-weight:bold; font-size:small;"


def _clock(t: float) -> str:
    minutes, seconds = divmod(max(0.0, t), 60.0)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def _unfinished(text: str) -> str:
    """A partial line without the dots Whisper may end it with (one ellipsis is drawn after it), then a space."""
    text = text.strip().rstrip(".\u2026 ").rstrip()
    return f"{text} " if text else ""


def render_html(model: TranscriptModel, max_lines: int = 200) -> str:
    """The transcript as HTML: one paragraph per committed line, then the partial one."""
    rows: list[str] = []
    for line in model.lines[-max_lines:]:
        seg = line.segment
        if line.sentiment is None:
            tag = '<span style="color:#757575; font-size:small;">[...]</span>'
        else:
            style = TAG_STYLE.format(color=SENTIMENT_COLORS[line.sentiment])
            tag = f'<span class="sentiment" style="{style}">[{line.sentiment}]</span>'
        rows.append(f'<p class="committed"><span style="color:#757575;">{_clock(seg.start)}</span> '
                    f"{html.escape(seg.text.strip())} {tag}</p>")
    if model.partial is not None:
        rows.append(f'<p class="partial" style="{PARTIAL_STYLE}"><span style="{PARTIAL_STYLE}">'
                    f"{html.escape(_unfinished(model.partial.text))}&hellip;</span></p>")
    if not rows:
        rows.append(f'<p style="{PARTIAL_STYLE}">No speech transcribed yet.</p>')
    return "\n".join(rows)


class TranscriptView(QTextBrowser):
    """Shows a TranscriptModel; ``refresh()`` re-renders only when the model changed."""

    def __init__(self, model: TranscriptModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._shown_version = -1
        self.setOpenLinks(False)
        self.setMinimumHeight(48)  # two lines: a small window keeps room for the plots
        self.setPlaceholderText("No speech transcribed yet.")

    def refresh(self) -> bool:
        """Re-render if the model changed since the last call; True when it did."""
        if self.model.version == self._shown_version:
            return False
        self._shown_version = self.model.version
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        self.setHtml(render_html(self.model))
        if at_bottom:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())
        return True
