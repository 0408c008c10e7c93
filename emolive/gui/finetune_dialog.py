"""Model > Fine-tune...: run `python -m training KIND --progress-json ...` as a child process and follow it.

The trainer prints one JSON event per line on stdout; its log goes to stderr (the protocol and the run's state
are Qt-free, in emolive.personal.trainer_protocol). Both are read through QProcess signals, so the window never waits on
the child. The events drive the progress bar and a live loss/metric plot. Stop terminates the child; its output
folder keeps ``last.pt``, so starting again with the same folder resumes (the default folder is the newest
unfinished run in the user's model registry, emolive.personal.finetune). At the end the validation metrics before and
after are shown, the model gets its card in the registry, and "Use this model" either hot-swaps a running
pipeline (``pipeline.swap_models``, with "Go back" to undo) or, without a pipeline, emits
``model_ready(kind, folder)`` for the window to load.
"""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from emolive.config import AppConfig, InferenceConfig
from emolive.core.errors import EmoliveError
from emolive.gui.interfaces import ModelSwitcherLike
from emolive.personal import finetune
from emolive.personal.trainer_protocol import DATA_HINTS, INIT_KINDS, TrainerRun, TrainRequest, Update, source_root

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = finetune.KINDS


class _SwapBridge(QObject):
    """Carries ``swap_models``' completion (called on a loader thread) into the GUI thread."""

    finished = Signal(str)


class FineTuneDialog(QDialog):
    """Set up a training run, start/stop it, watch its progress, compare before/after, switch to the model.

    ``pipeline`` (optional) is a LivePipeline to hot-swap; ``config`` the app's settings (for the models in
    use); ``program`` the trainer launcher (tests pass a fake); ``root`` the model registry folder.
    """

    model_ready = Signal(str, str)  # kind, model folder (only when there is no pipeline to hot-swap)

    def __init__(self, parent: QWidget | None = None, pipeline: ModelSwitcherLike | None = None,
                 config: AppConfig | None = None,
                 program: list[str] | None = None, root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a model")
        self.resize(760, 640)
        self.pipeline, self.config, self.root = pipeline, config or AppConfig(), root
        self.program = program or [sys.executable, "-m", "training"]
        self.process: QProcess | None = None
        self.run = TrainerRun()
        self.new_model: finetune.UserModel | None = None
        self.previous: InferenceConfig | None = None
        self.run_kind = ""
        self._cancelled = False
        self._swap = _SwapBridge(self)
        self._swap.finished.connect(self._swapped)
        self._build()

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.kind.currentTextChanged.connect(self._kind_changed)
        self.data = QLineEdit()
        self.out = QLineEdit()
        self._default_out = ""
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 1000)
        self.epochs.setSpecialValueText("trainer default")
        self.minutes = QSpinBox()
        self.minutes.setRange(0, 24 * 60)
        self.minutes.setSpecialValueText("no time limit")
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Stop after the epoch that crosses this budget (face, text, fusion)")
        self.from_current = QCheckBox("Start from the model in use (adapt it to this data)")
        self.from_current.setToolTip("Face: fine-tunes the whole network; voice: adapts the emotion head of the "
                                     "Whisper-embedding model to one person's speech (held-back takes score it)")
        self.extra = QLineEdit()
        self.extra.setPlaceholderText("more trainer options, e.g. --lr 1e-3 --batch-size 64 (or --hpo 10)")
        form = QFormLayout()
        form.addRow("Model:", self.kind)
        form.addRow("Data:", self._with_browse(self.data, data=True))
        form.addRow("", self.from_current)
        form.addRow("Output folder:", self._with_browse(self.out, data=False))
        form.addRow("Epochs:", self.epochs)
        form.addRow("Time budget:", self.minutes)
        form.addRow("Options:", self.extra)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Not started. Training runs in the background; stopping keeps the last epoch, "
                             "and starting again with the same output folder resumes.")
        self.status.setWordWrap(True)
        from emolive.gui.training_plot import TrainingPlot  # pyqtgraph: imported when the dialog is first opened

        self.plot = TrainingPlot()
        self.metrics = QLabel()
        self.metrics.setWordWrap(True)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.data.textChanged.connect(self._validate)
        self.kind.currentTextChanged.connect(self._validate)
        self.out.textChanged.connect(self._validate)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Cancel the run; starting again with the same output folder resumes it")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.use_button = QPushButton("Use this model")
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("Switch to the trained model without restarting")
        self.use_button.clicked.connect(self.use_model)
        self.back_button = QPushButton("Go back")
        self.back_button.setEnabled(False)
        self.back_button.setToolTip("Switch back to the models in use before")
        self.back_button.clicked.connect(self.go_back)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.use_button, self.back_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.metrics)
        layout.addWidget(self.log_view, 1)
        layout.addLayout(buttons)
        self._kind_changed("face")
        self._validate()

    def _with_browse(self, edit: QLineEdit, data: bool) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        browse = QPushButton("Browse...")
        browse.clicked.connect(lambda: self._browse(edit, data))
        layout.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, data: bool) -> None:
        if data and self.kind.currentText() == "fusion":
            path, _ = QFileDialog.getOpenFileName(self, "MELD-format CSV", edit.text(), "CSV files (*.csv)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if path:
            edit.setText(path)

    def _kind_changed(self, kind: str) -> None:
        self.data.setPlaceholderText(DATA_HINTS.get(kind, ""))
        self.from_current.setEnabled(kind in INIT_KINDS)
        if kind not in INIT_KINDS:
            self.from_current.setChecked(False)
        if self.out.text() in ("", self._default_out):
            self._default_out = str(finetune.run_dir(kind, self.root))
            self.out.setText(self._default_out)

    # --- running --------------------------------------------------------------------------------
    @property
    def result(self) -> dict[str, Any] | None:
        """The trainer's "done" event, once it came."""
        return self.run.result

    @property
    def _losses(self) -> list[tuple[int, float]]:
        return self.run.losses

    def request(self) -> TrainRequest:
        """The dialog's values as a trainer request."""
        kind = self.kind.currentText()
        init = (finetune.model_in_use(self.config.inference, kind)
                if self.from_current.isChecked() and kind in INIT_KINDS else None)
        return TrainRequest(kind=kind, data=self.data.text(), out=self.out.text(), epochs=self.epochs.value(),
                            minutes=self.minutes.value(), init=init, extra=self.extra.text())

    def arguments(self) -> list[str]:
        """The trainer's command line (after the program) for the dialog's values."""
        return self.request().arguments()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def problem(self) -> str:
        """Why Start cannot run the trainer with the dialog's values ("" when it can)."""
        return self.request().problem()

    def _validate(self) -> None:
        """Start is enabled only when the values can work; its tooltip says what is missing."""
        if self.running:
            return
        problem = self.problem()
        self.start_button.setEnabled(not problem)
        self.start_button.setToolTip(problem or "Run the trainer")

    def start(self) -> bool:
        if self.running:
            return False
        problem = self.problem()
        if problem:
            self._say(problem, error=True)
            return False
        try:
            args = self.arguments()
        except ValueError as exc:
            self._say(f"Cannot read the options: {exc}", error=True)
            return False
        self.run = TrainerRun(epochs_total=self.epochs.value(), from_model_in_use=self.request().init is not None)
        self._cancelled = False
        self.run_kind, self.new_model = args[0], None
        self.plot.clear_run()
        self.use_button.setEnabled(False)
        self.metrics.clear()
        self.progress.setValue(0)
        resuming = (Path(self.out.text().strip()) / "last.pt").is_file()
        process = QProcess(self)
        process.setProgram(self.program[0])
        process.setArguments([*self.program[1:], *args])
        root = source_root()
        if root is not None:
            process.setWorkingDirectory(str(root))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        self.log_view.appendPlainText("$ " + shlex.join([*self.program, *args]))
        process.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._say(f"{'Resuming' if resuming else 'Training'} the {args[0]} model...")
        return True

    def stop(self) -> None:
        """Cancel the trainer (it keeps its last finished epoch in OUT/last.pt; Start resumes it)."""
        if self.running:
            self._cancelled = True
            self._say("Stopping...")
            self.process.terminate()
            if not self.process.waitForFinished(5000):
                self.process.kill()
                self.process.waitForFinished(2000)

    cancel = stop

    def _read_stdout(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", errors="replace")
        for item in self.run.feed(text):
            if isinstance(item, dict):
                self.handle(item)
            elif item.strip():
                self.log_view.appendPlainText(item)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace").rstrip()
        self.run.add_stderr(text)
        if text:
            self.log_view.appendPlainText(text)

    def handle(self, event: dict[str, Any]) -> None:
        """Update the dialog from one progress event."""
        self._show(self.run.handle(event))

    def _show(self, update: Update) -> None:
        if update.progress is not None:
            self.progress.setValue(int(1000 * update.progress))
        if update.status:
            self._say(update.status, error=update.error)
        if update.curves:
            self.plot.show_run(self.run.losses, self.run.scores, update.monitor)
        if update.log:
            self.log_view.appendPlainText(update.log)
        if update.done:
            self._done()

    def _done(self) -> None:
        event = self.run.result or {}
        self.metrics.setText("\n".join(self.run.comparison()))
        monitor = event.get("monitor") or ""
        before, after = event.get("before") or {}, event.get("after") or {}
        out = Path(str(event.get("out") or self.out.text().strip()))
        try:
            self.new_model = finetune.finish(out, self.run_kind, before, after,
                                             [*self.program, *self.arguments()], self.data.text().strip(), monitor)
        except EmoliveError as exc:
            self.log_view.appendPlainText(f"no model card written: {exc}")
        self.use_button.setEnabled(bool(event.get("out")))
        self._say(f"Done: the model is in {out}")

    def _finished(self, code: int, status) -> None:  # noqa: ANN001 - QProcess.ExitStatus
        if self.process is not None:
            self._read_stderr()  # what is still buffered: the error line often comes last
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self._validate()
        text, error = self.run.ended(code, self._cancelled)
        if text:
            self._say(text, error=error)

    def _process_error(self, error) -> None:  # noqa: ANN001 - QProcess.ProcessError
        if error == QProcess.ProcessError.FailedToStart:
            self._say(f"Could not start {self.program[0]}", error=True)
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)

    # --- switching models -----------------------------------------------------------------------
    def _inference(self) -> InferenceConfig:
        config = self.pipeline.config if self.pipeline is not None else self.config
        return config.inference

    def use_model(self) -> None:
        """Hot-swap the pipeline to the trained model (or hand it to the window when there is no pipeline)."""
        if not self.result or not self.result.get("out"):
            return
        folder = str(self.result["out"])
        warning = self.run.warning()
        if warning and not self.confirm(f"{warning}\n\nUse it anyway?"):
            self._say(f"Kept the current model. {warning}", error=True)
            return
        if self.pipeline is None:
            self.model_ready.emit(self.run_kind, folder)
            return
        try:
            target = finetune.activate(self._inference(), self.run_kind, folder)
        except EmoliveError as exc:
            self._say(str(exc), error=True)
            return
        self.previous = self._inference()
        self._switch(target, "trained model")
        self.back_button.setEnabled(True)

    def confirm(self, question: str) -> bool:
        """Ask before a doubtful switch (tests replace this)."""
        answer = QMessageBox.question(self, "Use this model?", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def go_back(self) -> None:
        """Switch back to the models in use before ``use_model``."""
        if self.previous is not None:
            self._switch(self.previous, "previous model")
            self.previous = None
            self.back_button.setEnabled(False)

    def _switch(self, inference: InferenceConfig, what: str) -> None:
        self.config = replace(self.config, inference=inference)
        self._say(f"Loading the {what}; the current one keeps running meanwhile...")
        self.pipeline.swap_models(inference, self._swap.finished.emit)

    def _swapped(self, problem: str) -> None:
        self._say(f"Model switch: {problem}" if problem else "Switched without restarting.", error=bool(problem))

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color:#ff8a65;" if error else "")

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        self.stop()
        super().closeEvent(event)
