"""Model > Fine-tune...: run `python -m training KIND --progress-json ...` as a child process and follow it.

The trainer prints one JSON event per line on stdout (training/progress.py); its log goes to stderr. Both are
read through QProcess signals, so the window never waits on the child. The events drive the progress bar and
a live loss/metric plot. Stop terminates the child; its output folder keeps ``last.pt``, so starting again with
the same folder resumes (the default folder is the newest unfinished run in the user's model registry,
emolive.finetune). At the end the validation metrics before and after are shown, the model gets its card in
the registry, and "Use this model" either hot-swaps a running pipeline (``pipeline.swap_models``, with
"Go back" to undo) or, without a pipeline, emits ``model_ready(kind, folder)`` for the window to load.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyqtgraph as pg
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
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from emolive import finetune
from emolive.config import AppConfig, InferenceConfig
from emolive.errors import EmoliveError

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = finetune.KINDS
INIT_KINDS = ("face", "voice")  # trainers that can start from an existing model (--init)
DATA_HINTS: dict[str, str] = {
    "face": "folder with train/ and val/ image folders (FER2013 layout)",
    "voice": "RAVDESS-style folder (labels from the file names)",
    "text": "folder with MELD's train_sent_emo.csv and dev_sent_emo.csv",
    "fusion": "MELD-format CSV with its dia{D}_utt{U}.mp4 clips next to it (trains the cross-modal fusion)",
}


def data_problem(kind: str, data: str) -> str:
    """"" when ``data`` can be what the ``kind`` trainer reads, else a sentence saying what to choose."""
    if not data.strip():
        return f"Choose the training data: {DATA_HINTS.get(kind, 'a folder')}."
    path = Path(data.strip()).expanduser()
    if not path.exists():
        return f"The training data {path} does not exist."
    if kind == "fusion" and not path.is_file():
        return f"The fusion trainer needs a MELD-format CSV file, and {path} is a folder."
    if kind != "fusion" and not path.is_dir():
        return f"The {kind} trainer needs a folder, and {path} is a file."
    return ""


def trainer_error(stderr: str) -> str:
    """The trainer's own error sentence from its stderr (argparse's or emolive's ``...: error: ...``), or ""."""
    for line in reversed(stderr.strip().splitlines()):
        if ": error: " in line:
            reason = line.split(": error: ", 1)[1].strip()
            return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
    return ""


def parse_event(line: str | bytes) -> dict[str, Any] | None:
    """The progress event on one stdout line, or None for any other line."""
    from training.progress import parse_line

    return parse_line(line)


def _source_root() -> Path | None:
    """The folder holding ``training/`` when running from a source checkout (so ``-m training`` resolves)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "training" / "__init__.py").is_file() else None


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"


class _SwapBridge(QObject):
    """Carries ``swap_models``' completion (called on a loader thread) into the GUI thread."""

    finished = Signal(str)


class FineTuneDialog(QDialog):
    """Set up a training run, start/stop it, watch its progress, compare before/after, switch to the model.

    ``pipeline`` (optional) is a LivePipeline to hot-swap; ``config`` the app's settings (for the models in
    use); ``program`` the trainer launcher (tests pass a fake); ``root`` the model registry folder.
    """

    model_ready = Signal(str, str)  # kind, model folder (only when there is no pipeline to hot-swap)

    def __init__(self, parent: QWidget | None = None, pipeline: Any = None, config: AppConfig | None = None,
                 program: list[str] | None = None, root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a model")
        self.resize(760, 640)
        self.pipeline, self.config, self.root = pipeline, config or AppConfig(), root
        self.program = program or [sys.executable, "-m", "training"]
        self.process: QProcess | None = None
        self.result: dict[str, Any] | None = None
        self.new_model: finetune.UserModel | None = None
        self.previous: InferenceConfig | None = None
        self.epochs_total = 0
        self.run_kind = ""
        self._buffer = ""
        self._cancelled = False
        self._losses: list[tuple[int, float]] = []
        self._scores: list[tuple[int, float]] = []
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
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(200)
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.08)  # the top tick label stays inside
        self.plot.addLegend()
        self.plot.setLabel("bottom", "epoch")
        self.loss_curve = self.plot.plot([], [], pen=pg.mkPen("#ff7043", width=2), name="train loss")
        self.score_curve = self.plot.plot([], [], pen=pg.mkPen("#42a5f5", width=2), symbol="o", symbolSize=5,
                                          name="validation")
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
    def arguments(self) -> list[str]:
        """The trainer's command line (after the program) for the dialog's values."""
        kind, data = self.kind.currentText(), self.data.text().strip()
        args = [kind, "--progress-json", "--out", self.out.text().strip()]
        if data:
            args += ["--arch", "crossmodal", "--csv", data] if kind == "fusion" else ["--data", data]
        if self.epochs.value() > 0:
            args += ["--epochs", str(self.epochs.value())]
        if self.minutes.value() > 0 and kind != "voice":
            args += ["--time-budget", str(self.minutes.value() * 60)]
        if self.from_current.isChecked() and kind in INIT_KINDS:
            init = finetune.model_in_use(self.config.inference, kind)
            args += ["--init", str(init)] + (["--encoder", "whisper"] if kind == "voice" else [])
        return args + shlex.split(self.extra.text())

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def problem(self) -> str:
        """Why Start cannot run the trainer with the dialog's values ("" when it can)."""
        if not self.out.text().strip():
            return "Choose an output folder."
        return data_problem(self.kind.currentText(), self.data.text())

    def _validate(self) -> None:
        """Start is enabled only when the values can work; its tooltip says what is missing."""
        if not hasattr(self, "start_button") or self.running:
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
        self.result, self.epochs_total, self._buffer, self._cancelled = None, self.epochs.value(), "", False
        self._stderr = ""
        self.run_kind, self.new_model = args[0], None
        self._losses, self._scores = [], []
        self._redraw()
        self.use_button.setEnabled(False)
        self.metrics.clear()
        self.progress.setValue(0)
        resuming = (Path(self.out.text().strip()) / "last.pt").is_file()
        process = QProcess(self)
        process.setProgram(self.program[0])
        process.setArguments([*self.program[1:], *args])
        root = _source_root()
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
        self._buffer += bytes(self.process.readAllStandardOutput()).decode("utf-8", errors="replace")
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            event = parse_event(line)
            if event is None:
                if line.strip():
                    self.log_view.appendPlainText(line)
            else:
                self.handle(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace").rstrip()
        self._stderr = (getattr(self, "_stderr", "") + "\n" + text)[-20_000:]
        if text:
            self.log_view.appendPlainText(text)

    def handle(self, event: dict[str, Any]) -> None:
        """Update the dialog from one progress event."""
        kind = event.get("event")
        if kind == "step":
            epochs = int(event.get("epochs") or self.epochs_total or 0)
            steps = max(1, int(event.get("steps") or 1))
            within = (int(event.get("epoch") or 1) - 1 + int(event.get("step") or 0) / steps)
            if epochs:
                self.progress.setValue(int(1000 * min(1.0, within / epochs)))
            self._say(f"epoch {event.get('epoch')}: step {event.get('step')}/{steps}, "
                      f"loss {float(event.get('loss') or 0):.4f}")
        elif kind == "epoch":
            self._epoch(event)
        elif kind == "trial":
            fields = {k: v for k, v in event.items() if k != "event"}
            self.log_view.appendPlainText(f"search trial: {json.dumps(fields)}")
        elif kind == "done":
            self._done(event)
        elif kind == "error":
            self._say(f"Training failed: {event.get('message')}", error=True)

    def _epoch(self, event: dict[str, Any]) -> None:
        self.epochs_total = int(event.get("epochs") or self.epochs_total or 0)
        epoch = int(event.get("epoch") or 0)
        if self.epochs_total:
            self.progress.setValue(int(1000 * min(1.0, epoch / self.epochs_total)))
        monitor = event.get("monitor") or ""
        value = (event.get("val") or {}).get(monitor)
        loss = float(event.get("train_loss") or 0)
        self._losses.append((epoch, loss))
        if isinstance(value, int | float):
            self._scores.append((epoch, float(value)))
        self._redraw()
        # A title, not a rotated axis label: a long metric name no longer gets cut off at the plot's top.
        self.plot.setTitle(f"train loss and validation {monitor.replace('_', ' ')} per epoch", size="9pt")
        self.log_view.appendPlainText(f"epoch {epoch}/{self.epochs_total}: train loss {loss:.4f}, "
                                      f"val {monitor} {_fmt(value)}")

    def _redraw(self) -> None:
        self.loss_curve.setData([e for e, _ in self._losses], [v for _, v in self._losses])
        self.score_curve.setData([e for e, _ in self._scores], [v for _, v in self._scores])

    def _done(self, event: dict[str, Any]) -> None:
        self.result = event
        self.progress.setValue(1000)
        monitor = event.get("monitor") or ""
        before, after = event.get("before") or {}, event.get("after") or {}
        lines = [f"validation {monitor}: before {_fmt(before.get(monitor))}, after {_fmt(after.get(monitor))}"]
        lines += [f"validation {k}: before {_fmt(before.get(k))}, after {_fmt(after.get(k))}"
                  for k in ("accuracy", "macro_f1", "weighted_f1") if k != monitor and k in after]
        self.metrics.setText("\n".join(lines))
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
        if self._cancelled and self.result is None:
            self._say("Stopped. Start again with the same output folder to resume from the last finished epoch.")
        elif self.result is None and code != 0:
            reason = trainer_error(getattr(self, "_stderr", ""))
            self._say(f"The trainer stopped: {reason}" if reason else
                      f"The trainer stopped (exit code {code}); see the log below.", error=True)

    def _process_error(self, error) -> None:  # noqa: ANN001 - QProcess.ProcessError
        if error == QProcess.ProcessError.FailedToStart:
            self._say(f"Could not start {self.program[0]}", error=True)
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)

    # --- switching models -----------------------------------------------------------------------
    def _inference(self) -> InferenceConfig:
        config = getattr(self.pipeline, "config", None) or self.config
        return config.inference

    def use_model(self) -> None:
        """Hot-swap the pipeline to the trained model (or hand it to the window when there is no pipeline)."""
        if not self.result or not self.result.get("out"):
            return
        folder = str(self.result["out"])
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
