"""Machine-readable training progress: with ``--progress-json`` a trainer prints one JSON object per line.

The events and their fields are ``emolive.personal.trainer_protocol``'s (shared with the Fine-tune dialog that reads
them); ``step`` events come at most once per ``step_interval_s``. It hooks into ``training.common.fit`` through
``FitHooks`` (its progress callbacks), so every trainer gets it without changes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from emolive.personal.trainer_protocol import plain

log = logging.getLogger(__name__)

class JsonProgress:
    """Writes progress events as JSON lines to ``stream``; ``hooks()`` connects it to ``fit``."""

    def __init__(self, stream: TextIO, step_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.step_interval_s = step_interval_s
        self.clock = clock
        self._last_step = -math.inf

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **plain(fields)}) + "\n")
        self.stream.flush()

    def emit_fields(self, event: str, fields: dict[str, Any]) -> None:
        self.emit(event, **fields)

    def start(self, kind: str) -> None:
        self.emit("start", kind=kind)

    def epoch(self, record: dict[str, Any]) -> None:
        """``fit``'s per-epoch record -> an epoch event."""
        self.emit("epoch", epoch=record.get("epoch"), epochs=record.get("epochs"),
                  train_loss=record.get("train_loss"), val=record.get("val", {}), best=record.get("best"),
                  monitor=record.get("monitor"))

    def step(self, epoch: int, epochs: int, step: int, steps: int, loss: float) -> None:
        now = self.clock()
        if step == steps or now - self._last_step >= self.step_interval_s:
            self._last_step = now
            self.emit("step", epoch=epoch, epochs=epochs, step=step, steps=steps, loss=loss)

    def done(self, result: dict[str, Any]) -> None:
        """``result``: one entry of ``FitHooks.results`` (before, after, out, monitor)."""
        self.emit("done", before=result.get("before", {}), after=result.get("after", {}), out=result.get("out"),
                  monitor=result.get("monitor"))

    def error(self, message: str) -> None:
        self.emit("error", message=message)

    def hooks(self):
        """FitHooks that report every epoch and step and score the model before training."""
        from training.common import FitHooks

        return FitHooks(progress=self.epoch, on_step=self.step, evaluate_before=True)


def write_report(result: dict[str, Any], directory: Path) -> Path | None:
    """``report.json`` (validation before/after) and, when there is a confusion matrix, ``confusion.png``."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    report = directory / "report.json"
    report.write_text(json.dumps(plain({k: result.get(k) for k in ("before", "after", "monitor")}), indent=2) + "\n")
    after = result.get("after") or {}
    if after.get("confusion") and after.get("labels"):
        confusion_png(after["confusion"], after["labels"], directory / "confusion.png",
                      title=f"validation, best epoch ({result.get('monitor')})")
    return report


def confusion_png(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (counts annotated) as a PNG, drawn off-screen with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(confusion, dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.8 * len(labels)))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
