"""Settings: camera, microphone, inference device, latency budget, smoothing, transcription model/language."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from emolive.config import AppConfig, with_changes

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
ASR_MODELS: tuple[str, ...] = ("tiny.en", "base")
LANGUAGES: tuple[tuple[str, str], ...] = (("", "automatic"), ("en", "English"), ("de", "German"), ("fr", "French"),
                                          ("es", "Spanish"), ("it", "Italian"), ("nl", "Dutch"), ("pt", "Portuguese"))


def list_microphones() -> list[tuple[str, str]]:
    """(value, label) of the audio inputs; empty when none can be listed (no PortAudio, no device)."""
    try:
        from emolive.capture.microphone import input_devices

        return [(str(d["index"]), f"{d['index']}: {d['name']}") for d in input_devices()]
    except Exception as exc:  # noqa: BLE001 - listing is best effort; the dialog still opens
        log.info("cannot list microphones: %s", exc)
        return []


def _editable_combo(items: list[tuple[str, str]], current: str) -> QComboBox:
    """A combo of (value, label) items that also accepts typed text; shows ``current`` selected."""
    box = QComboBox()
    box.setEditable(True)
    for value, label in items:
        box.addItem(label, value)
    index = box.findData(current)
    if index < 0:
        box.addItem(current, current)
        index = box.count() - 1
    box.setCurrentIndex(index)
    return box


def _combo_value(box: QComboBox) -> str:
    """The item's value when the text is an item's label, else the typed text."""
    text = box.currentText().strip()
    index = box.findText(text)
    return str(box.itemData(index)) if index >= 0 and box.itemData(index) is not None else text


class SettingsDialog(QDialog):
    """Edits a copy of an AppConfig; ``result_config()`` gives the edited one after ``accept()``."""

    def __init__(self, config: AppConfig, parent: QWidget | None = None,
                 microphones: Callable[[], list[tuple[str, str]]] = list_microphones) -> None:
        super().__init__(parent)
        self.setWindowTitle("emolive settings")
        self.setMinimumWidth(440)
        self.config = config
        cap, inf, asr = config.capture, config.inference, config.asr
        self.camera = _editable_combo([("", "none"), ("0", "0 (default camera)"), ("1", "1"), ("2", "2")], cap.camera)
        self.camera.setToolTip("Camera index or device path; 'none' opens no camera")
        self.microphone = _editable_combo([("", "default input"), *microphones()], cap.microphone)
        self.microphone.setToolTip("Audio input index or part of its name")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(inf.device if inf.device in DEVICES else "auto")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(10.0, 2000.0)
        self.budget.setSuffix(" ms")
        self.budget.setValue(inf.budget_ms)
        self.budget.setToolTip("Compute time allowed per inference step; the worker sheds work to stay within it")
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 10.0)
        self.smoothing.setSingleStep(0.1)
        self.smoothing.setSuffix(" s")
        self.smoothing.setValue(inf.smoothing_s)
        self.smoothing.setToolTip("Time constant of the smoothing of the estimates (0 = none)")
        self.asr_enabled = QCheckBox("transcribe speech")
        self.asr_enabled.setChecked(asr.enabled)
        self.asr_model = _editable_combo([(m, m) for m in ASR_MODELS], asr.model)
        self.asr_model.setToolTip("tiny.en (bundled), base (the whisper-base extra) or a CTranslate2 model folder")
        self.language = _editable_combo([(code, f"{name} ({code})" if code else name) for code, name in LANGUAGES],
                                        asr.language)
        form = QFormLayout(self)
        form.addRow("Camera:", self.camera)
        form.addRow("Microphone:", self.microphone)
        form.addRow("Inference device:", self.device)
        form.addRow("Latency budget:", self.budget)
        form.addRow("Smoothing:", self.smoothing)
        form.addRow("Transcription:", self.asr_enabled)
        form.addRow("Transcription model:", self.asr_model)
        form.addRow("Language:", self.language)
        note = QLabel("Changes restart the sources and workers; during a recording you are asked first.")
        note.setStyleSheet("color:#888888;")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def result_config(self) -> AppConfig:
        """The configuration with the dialog's values."""
        config = with_changes(self.config, "capture", camera=_combo_value(self.camera),
                              microphone=_combo_value(self.microphone))
        config = with_changes(config, "inference", device=self.device.currentText(), budget_ms=self.budget.value(),
                              smoothing_s=self.smoothing.value())
        return with_changes(config, "asr", enabled=self.asr_enabled.isChecked(), model=_combo_value(self.asr_model),
                            language=_combo_value(self.language))
