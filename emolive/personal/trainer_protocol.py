"""The fine-tune child-process protocol, Qt-free: the trainer's command line, its JSON progress events, and the
run's state as the events arrive.

With ``--progress-json`` a trainer (``python -m training KIND``) prints one JSON object per line on stdout;
everything else it prints goes to stderr. Events: ``{"event": "start", "kind": K}``, ``{"event": "step", "epoch",
"epochs", "step", "steps", "loss"}``, ``{"event": "epoch", "epoch", "epochs", "train_loss", "val": {...}, "best",
"monitor"}``, ``{"event": "trial", ...}`` (Optuna), ``{"event": "done", "before", "after", "out", "monitor"}`` and
``{"event": "error", "message"}``. ``training.progress`` writes them; the Fine-tune dialog reads them through
``TrainerRun``.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAG = "--progress-json"
INIT_KINDS: tuple[str, ...] = ("face", "voice")  # trainers that can start from an existing model (--init)
DATA_HINTS: dict[str, str] = {
    "face": "folder with train/ and val/ image folders (FER2013 layout)",
    "voice": "RAVDESS-style folder (labels from the file names)",
    "text": "folder with MELD's train_sent_emo.csv and dev_sent_emo.csv",
    "fusion": "MELD-format CSV with its dia{D}_utt{U}.mp4 clips next to it (trains the cross-modal fusion)",
}


# --- the wire format ---------------------------------------------------------------------------------------
def split_flag(argv: Sequence[str], flag: str = FLAG) -> tuple[bool, list[str]]:
    """(whether ``flag`` was given, ``argv`` without it)."""
    rest = [a for a in argv if a != flag]
    return len(rest) != len(argv), rest


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy/torch scalars and arrays become Python numbers/lists, NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """The progress event on one output line, or None for any other line (readers skip those)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def trainer_error(stderr: str) -> str:
    """The trainer's own error sentence from its stderr (argparse's or emolive's ``...: error: ...``), or ""."""
    for line in reversed(stderr.strip().splitlines()):
        if ": error: " in line:
            reason = line.split(": error: ", 1)[1].strip()
            return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
    return ""


# --- the command line --------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class TrainRequest:
    """What the user asked for; ``init`` is the model to start from (face and voice only), ``minutes`` 0: no limit."""

    kind: str
    data: str
    out: str
    epochs: int = 0
    minutes: int = 0
    init: Path | None = None
    extra: str = ""

    def problem(self) -> str:
        """Why the trainer cannot run with these values ("" when it can)."""
        if not self.out.strip():
            return "Choose an output folder."
        return data_problem(self.kind, self.data)

    def arguments(self) -> list[str]:
        """The trainer's command line after the program; ValueError when ``extra`` cannot be split."""
        kind, data = self.kind, self.data.strip()
        args = [kind, FLAG, "--out", self.out.strip()]
        if data:
            args += ["--arch", "crossmodal", "--csv", data] if kind == "fusion" else ["--data", data]
        if self.epochs > 0:
            args += ["--epochs", str(self.epochs)]
        if self.minutes > 0 and kind != "voice":
            args += ["--time-budget", str(self.minutes * 60)]
        if self.init is not None and kind in INIT_KINDS:
            args += ["--init", str(self.init)] + (["--encoder", "whisper"] if kind == "voice" else [])
        return args + shlex.split(self.extra)


def source_root(here: Path | None = None) -> Path | None:
    """The folder holding ``training/`` when running from a source checkout (so ``-m training`` resolves)."""
    root = (here or Path(__file__)).resolve().parents[2]
    return root if (root / "training" / "__init__.py").is_file() else None


# --- following a run ---------------------------------------------------------------------------------------
CHANCE_ACCURACY = 1 / 7  # guessing among the seven emotions
CHANCE_MARGIN = 0.05  # an accuracy this close to chance: the model learned (next to) nothing


def fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"


@dataclass
class Update:
    """What to show after one event: ``progress`` in [0, 1] (None: unchanged), a status line, a log line."""

    progress: float | None = None
    status: str = ""
    error: bool = False
    log: str = ""
    curves: bool = False  # losses/scores changed
    monitor: str = ""  # the validation metric, once an epoch names it
    done: bool = False


@dataclass
class TrainerRun:
    """The state of one trainer run, fed its stdout text and events; no I/O."""

    epochs_total: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    scores: list[tuple[int, float]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    stderr: str = ""
    from_model_in_use: bool = False  # the run started from the model in use (--init): "before" scores that model
    _buffer: str = ""

    def feed(self, text: str) -> list[str | dict[str, Any]]:
        """Take a chunk of stdout; returns its complete lines, each a parsed event or the plain text line."""
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        return [event if (event := parse_line(line)) is not None else line for line in lines]

    def add_stderr(self, text: str) -> None:
        self.stderr = (self.stderr + "\n" + text)[-20_000:]

    def handle(self, event: dict[str, Any]) -> Update:
        kind = event.get("event")
        if kind == "step":
            epochs = int(event.get("epochs") or self.epochs_total or 0)
            steps = max(1, int(event.get("steps") or 1))
            within = int(event.get("epoch") or 1) - 1 + int(event.get("step") or 0) / steps
            return Update(progress=min(1.0, within / epochs) if epochs else None,
                          status=f"epoch {event.get('epoch')}: step {event.get('step')}/{steps}, "
                                 f"loss {float(event.get('loss') or 0):.4f}")
        if kind == "epoch":
            return self._epoch(event)
        if kind == "trial":
            fields = {k: v for k, v in event.items() if k != "event"}
            return Update(log=f"search trial: {json.dumps(fields)}")
        if kind == "done":
            self.result = event
            return Update(progress=1.0, done=True)
        if kind == "error":
            return Update(status=f"Training failed: {event.get('message')}", error=True)
        return Update()

    def _epoch(self, event: dict[str, Any]) -> Update:
        self.epochs_total = int(event.get("epochs") or self.epochs_total or 0)
        epoch = int(event.get("epoch") or 0)
        monitor = str(event.get("monitor") or "")
        value = (event.get("val") or {}).get(monitor)
        loss = float(event.get("train_loss") or 0)
        self.losses.append((epoch, loss))
        if isinstance(value, int | float):
            self.scores.append((epoch, float(value)))
        return Update(progress=min(1.0, epoch / self.epochs_total) if self.epochs_total else None, curves=True,
                      monitor=monitor,
                      log=f"epoch {epoch}/{self.epochs_total}: train loss {loss:.4f}, val {monitor} {fmt(value)}")

    def comparison(self) -> list[str]:
        """Before/after lines of the finished run's validation metrics (the monitored one first)."""
        event = self.result or {}
        monitor = event.get("monitor") or ""
        before, after = event.get("before") or {}, event.get("after") or {}
        lines = [f"validation {monitor}: before {fmt(before.get(monitor))}, after {fmt(after.get(monitor))}"]
        lines += [f"validation {k}: before {fmt(before.get(k))}, after {fmt(after.get(k))}"
                  for k in ("accuracy", "macro_f1", "weighted_f1") if k != monitor and k in after]
        if self.from_model_in_use:
            return [*lines, "(before: the model in use, on this data's validation split)"]
        return [*lines, "(before: the untrained network of this from-scratch run, not the model in use; "
                        "'Start from the model in use' compares with it)"]

    def warning(self) -> str:
        """Why switching to the trained model may be a mistake ("" when nothing speaks against it)."""
        event = self.result or {}
        monitor = str(event.get("monitor") or "")
        before, after = event.get("before") or {}, event.get("after") or {}
        accuracy = after.get("accuracy")
        if isinstance(accuracy, int | float) and accuracy <= CHANCE_ACCURACY + CHANCE_MARGIN:
            return (f"The trained model is at chance level: validation accuracy {accuracy:.2f}, guessing gives about "
                    f"{CHANCE_ACCURACY:.2f}.")
        old, new = before.get(monitor), after.get(monitor)
        if self.from_model_in_use and isinstance(old, int | float) and isinstance(new, int | float) and new < old:
            return f"The trained model scores lower than the model in use (validation {monitor} {new:.2f} < {old:.2f})."
        return ""

    def ended(self, code: int, cancelled: bool) -> tuple[str, bool]:
        """(status line, is it an error) once the process has exited; ("", False) when a result came."""
        if cancelled and self.result is None:
            return "Stopped. Start again with the same output folder to resume from the last finished epoch.", False
        if self.result is None and code != 0:
            reason = trainer_error(self.stderr)
            return (f"The trainer stopped: {reason}" if reason else
                    f"The trainer stopped (exit code {code}); see the log below."), True
        return "", False
