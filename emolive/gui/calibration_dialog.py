"""Personal calibration: guided prompts, auto-labelled takes from the live pipeline, a re-fitted fusion layer.

The dialog shows one prompt at a time (a neutral baseline, then a few expressions with a phrase), gives a
short get-ready pause and records the pipeline's estimates for a few seconds, labelled with the prompt. Each
prompt is recorded twice; the first takes adapt the voice emotion head to the user's voice (when the voice model
is the Whisper-embedding one and enough speech was heard) and fit the late fusion's class biases
(emolive.personal.calibration); the last takes are held back and shown before/after. The results are saved to the
user's model registry with their cards and can be switched in without restarting (and back). Feed it estimates
by connecting the window's bridge:
``bridge.estimate.connect(dialog.on_estimate)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from emolive.config import AppConfig, InferenceConfig
from emolive.core.contracts import EmotionEstimate
from emolive.core.errors import EmoliveError
from emolive.gui.interfaces import ModelSwitcherLike
from emolive.personal import finetune
from emolive.personal.calibration import (
    PROMPTS,
    CalibrationSession,
    Prompt,
    VoiceAdaptation,
    adapt_voice,
    evaluate,
    fit_biases,
    head_dim,
)
from emolive.voice.adapt import load_head

log = logging.getLogger(__name__)


class _SwapBridge(QObject):
    finished = Signal(str)


class CalibrationDialog(QDialog):
    """Guided personal calibration of the late-fusion layer; ``pipeline`` (may be None) is hot-swapped."""

    def __init__(self, parent: QWidget | None, pipeline: ModelSwitcherLike | None, config: AppConfig,
                 prompts: Sequence[Prompt] = PROMPTS, take_s: float = 4.0, ready_s: float = 1.5,
                 root: Path | None = None, clock: Callable[[], float] = time.monotonic,
                 file_source: Callable[[], str] = lambda: "") -> None:
        super().__init__(parent)
        self.file_source = file_source  # the replayed file's path, "" for a live camera and microphone
        self.setWindowTitle("Personal calibration")
        self.resize(620, 360)
        self.pipeline, self.config, self.root, self.clock = pipeline, config, root, clock
        self.prompts, self.take_s, self.ready_s = tuple(prompts), take_s, ready_s
        self.session: CalibrationSession | None = None
        self.phase = "idle"  # idle | ready | recording | done
        self._phase_started = 0.0
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.saved: Path | None = None
        self.saved_voice: Path | None = None
        self.voice: VoiceAdaptation | None = None
        self.previous: InferenceConfig | None = None
        self._swap = _SwapBridge(self)
        self._swap.finished.connect(self._swapped)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.tick)
        self._build()

    def _build(self) -> None:
        self.step = QLabel("Calibrate emolive to your own face and voice: follow each prompt while the live "
                           "view runs. Every prompt is recorded twice; the second takes are used to check the "
                           "result.")
        self.step.setWordWrap(True)
        self.instruction = QLabel("")
        self.instruction.setWordWrap(True)
        self.instruction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.instruction.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.countdown = QProgressBar()
        self.countdown.setRange(0, 1000)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.use_button = QPushButton("Use calibrated models")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_model)
        self.back_button = QPushButton("Go back")
        self.back_button.setEnabled(False)
        self.back_button.clicked.connect(self.go_back)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.use_button, self.back_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        for w in (self.step, self.instruction, self.countdown, self.result):
            layout.addWidget(w)
        layout.addLayout(buttons)

    # --- recording ------------------------------------------------------------------------------
    def _inference(self) -> InferenceConfig:
        """The models in use now (the pipeline's view when it has one, else the dialog's config)."""
        config = self.pipeline.config if self.pipeline is not None else self.config
        return config.inference

    def start(self) -> None:
        replayed = self.file_source()
        if replayed:
            self.result.setText(f"Calibration needs you in front of the camera and microphone: the replayed file "
                                f"{Path(replayed).name} does not follow the prompts, so any gain would be fake. "
                                "Use File > Use camera and microphone first.")
            return
        if self._inference().fusion == "crossmodal":
            self.result.setText("Calibration adjusts the late fusion; switch Settings to late fusion first.")
            return
        self.session = CalibrationSession(self.prompts)
        self.before, self.after, self.saved, self.saved_voice, self.voice = {}, {}, None, None, None
        self.start_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.result.setText("")
        self._enter("ready")
        self._timer.start()

    def _enter(self, phase: str) -> None:
        self.phase, self._phase_started = phase, self.clock()
        current = self.session.current if self.session else None
        if current is not None:
            prompt, take = current
            n, total = self.session.index + 1, len(self.session.schedule)
            self.step.setText(f"Prompt {n} of {total} (take {take + 1}): "
                              + ("get ready..." if phase == "ready" else "recording"))
            self.instruction.setText(prompt.instruction)

    def tick(self) -> None:
        """Advance the get-ready / record schedule (driven by a timer)."""
        if self.session is None or self.phase in ("idle", "done"):
            return
        length = self.ready_s if self.phase == "ready" else self.take_s
        elapsed = self.clock() - self._phase_started
        self.countdown.setValue(int(1000 * min(1.0, elapsed / max(length, 1e-6))))
        if elapsed < length:
            return
        if self.phase == "ready":
            self._enter("recording")
            return
        self.session.next()
        if self.session.finished:
            self._timer.stop()
            self.phase = "done"
            self.fit()
        else:
            self._enter("ready")

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        """Slot for the pipeline's estimates (GUI thread); only those during a take are kept."""
        if self.phase == "recording" and self.session is not None:
            self.session.add(estimate)

    # --- fitting --------------------------------------------------------------------------------
    def fit(self) -> None:
        """Fit the class biases on the first takes, score the held-back takes before/after, save to the registry."""
        from emolive.fusion.fuser import Fuser
        from emolive.models.io import save_model

        self.start_button.setEnabled(True)
        self.instruction.setText("")
        fusion_dir = self._inference().fusion_model
        base = Fuser.from_dir(Path(fusion_dir) if fusion_dir else None).model
        fit_samples, held_samples = self.session.fit_samples, self.session.held_samples
        try:
            self.voice, voice_config = self._adapt_voice()
            if self.voice is not None:  # the fusion layer is fitted on what the adapted voice head says
                dim, temperature = head_dim(self.voice.head), float(voice_config.get("temperature", 1.0))
                fit_samples = fit_samples.with_voice(self.voice.head, dim, temperature)
                held_samples = held_samples.with_voice(self.voice.head, dim, temperature)
            tuned = fit_biases(base, fit_samples)
        except (ValueError, EmoliveError) as exc:
            self.step.setText(f"Calibration failed: {exc}")
            return
        self.before = evaluate(base, self.session.held_samples)
        self.after = evaluate(tuned, held_samples)
        if self.voice is not None:
            self.saved_voice = self._save_voice(voice_config)
        directory = finetune.run_dir("fusion", self.root, resume=False)
        save_model(tuned, {"kind": "late_fusion", "calibration": {"fit_samples": len(self.session.fit_samples.labels),
                                                                  "held_samples": self.before["n"]}}, directory)
        try:
            model = finetune.finish(directory, "fusion", self.before, self.after, ["personal calibration"],
                                    data="the user's own prompted takes (personal calibration)", monitor="accuracy")
        except EmoliveError as exc:
            self.step.setText(str(exc))
            return
        self.saved = model.path
        fit_takes, held_takes = self.session.takes_heard()
        total = len(self.prompts)
        self.step.setText(f"Calibrated on {fit_takes} of {total * (self.session.takes - 1)} takes; checked on "
                          f"{held_takes} of {total} held-back takes ({len(self.session.fit_samples.labels)} and "
                          f"{self.before['n']} estimates).")
        text = (f"Held-back takes: accuracy {self.before['accuracy']:.3f} → {self.after['accuracy']:.3f}, "
                f"macro F1 {self.before['macro_f1']:.3f} → {self.after['macro_f1']:.3f}")
        if self.voice is not None:
            text += (f"\nVoice alone (adapted to your voice): accuracy {self.voice.before['accuracy']:.3f} → "
                     f"{self.voice.after['accuracy']:.3f}")
        self.result.setText(text)
        self.use_button.setEnabled(True)

    def _voice_dir(self) -> Path:
        return finetune.model_in_use(self._inference(), "voice")

    def _adapt_voice(self) -> tuple[VoiceAdaptation | None, dict[str, Any]]:
        """Adapt the voice head in use to the first takes (None when it cannot be adapted or too little was heard)."""
        loaded = load_head(self._voice_dir())
        if loaded is None:
            return None, {}
        head, config = loaded
        return adapt_voice(head, config, self.session.fit_samples, self.session.held_samples), config

    def _save_voice(self, config: dict[str, Any]) -> Path | None:
        from emolive.models.io import save_model

        directory = finetune.run_dir("voice", self.root, resume=False)
        save_model(self.voice.head, {**config, "adapted": {"from": str(self._voice_dir()),
                                                           "data": "personal calibration takes"}}, directory)
        try:
            return finetune.finish(directory, "voice", self.voice.before, self.voice.after, ["personal calibration"],
                                   data="the user's own prompted takes (personal calibration)",
                                   monitor="accuracy").path
        except EmoliveError as exc:
            log.warning("adapted voice model not saved: %s", exc)
            return None

    # --- switching ------------------------------------------------------------------------------
    def use_model(self) -> None:
        if self.saved is None:
            return
        self.previous = self._inference()
        inference = finetune.activate(self.previous, "fusion", self.saved)
        if self.saved_voice is not None:
            inference = finetune.activate(inference, "voice", self.saved_voice)
        self._switch(inference)
        self.back_button.setEnabled(True)

    def go_back(self) -> None:
        if self.previous is not None:
            self._switch(self.previous)
            self.previous = None
            self.back_button.setEnabled(False)

    def _switch(self, inference: InferenceConfig) -> None:
        self.config = replace(self.config, inference=inference)
        if self.pipeline is None:
            self.result.setText(self.result.text() + "\nIt will be used when the pipeline starts.")
            return
        self.step.setText("Loading the fusion layer; the current one keeps running meanwhile...")
        self.pipeline.swap_models(inference, self._swap.finished.emit)

    def _swapped(self, problem: str) -> None:
        self.step.setText(f"Model switch: {problem}" if problem else "Switched without restarting.")

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        self._timer.stop()
        super().closeEvent(event)
