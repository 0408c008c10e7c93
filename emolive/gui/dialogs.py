"""Small dialogs and helpers behind the menus: model cards, About, model folders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from emolive import __version__
from emolive.models.assets import assets_dir

log = logging.getLogger(__name__)

MODEL_KINDS: tuple[str, ...] = ("face", "voice", "text", "fusion")


def model_cards(root: Path | None = None) -> dict[str, str]:
    """``{folder name: MODEL_CARD.md text}`` for every ``assets/*/MODEL_CARD.md``, sorted by name."""
    root = root or assets_dir()
    cards: dict[str, str] = {}
    for path in sorted(root.glob("*/MODEL_CARD.md")):
        try:
            cards[path.parent.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            cards[path.parent.name] = f"Cannot read {path}: {exc}"
    return cards


class ModelCardsDialog(QDialog):
    """One tab per shipped model card (Markdown rendered)."""

    def __init__(self, parent: QWidget | None = None, root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model cards")
        self.resize(820, 640)
        layout = QVBoxLayout(self)
        self.cards = model_cards(root)
        if self.cards:
            self.tabs = QTabWidget()
            for name, text in self.cards.items():
                view = QTextBrowser()
                view.setOpenExternalLinks(True)
                view.setMarkdown(text)
                self.tabs.addTab(view, name)
            layout.addWidget(self.tabs)
        else:
            layout.addWidget(QLabel(f"No model cards found in {root or assets_dir()}."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def about_html() -> str:
    return (f"<h3>emolive {__version__}</h3>"
            "<p>Offline, real-time emotion recognition from a face, a voice and the words said.</p>"
            "<p>The code is MIT licensed. The bundled models were trained on research data sets "
            "(FER2013, RAVDESS, TESS, MELD) whose licences allow non-commercial research use only: "
            "see Model &gt; Model info / cards.</p>"
            "<p>Estimates are guesses about expressed emotion, not about what a person feels; "
            "do not use them to make decisions about people.</p>")


def guess_model_kind(folder: Path) -> str | None:
    """face/voice/text/fusion from config.json (``kind`` or ``modality``) or the folder name; None if unknown."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        config = {}
    for key in ("kind", "modality", "channel"):
        value = str(config.get(key, "")).lower() if isinstance(config, dict) else ""
        if value in MODEL_KINDS:
            return value
    name = Path(folder).name.lower()
    return next((kind for kind in MODEL_KINDS if kind in name), None)

