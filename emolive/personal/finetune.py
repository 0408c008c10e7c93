"""The user's fine-tuned models: a registry under the user data directory, and switching between them.

Layout: ``<user_data_dir>/emolive/models/<kind>/<YYYYmmdd-HHMMSS>/`` holding ``model.safetensors``,
``config.json`` and ``MODEL_CARD.md`` (with the validation metrics before and after). A folder without a card is
a run that has not finished (cancelled or still training): it keeps ``last.pt`` so the next run resumes it.
``activate`` / ``revert`` return a new ``InferenceConfig``; the caller hot-swaps it (``LivePipeline.swap_models``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from emolive.config import InferenceConfig
from emolive.core.errors import EmoliveError
from emolive.models.assets import default_model_dir

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("face", "voice", "text", "fusion")
CONFIG_FIELD = {"face": "face_model", "voice": "voice_model", "text": "text_model", "fusion": "fusion_model"}
CARD_NAME = "MODEL_CARD.md"
METRICS_NAME = "metrics.json"
LICENCE_NOTE = ("The public emotion datasets this project trains on (FER2013, RAVDESS, TESS, MELD) are licensed "
                "for non-commercial research only; a model fine-tuned from them inherits that restriction, and "
                "the user's own data stays on this computer.")


@dataclass(frozen=True)
class UserModel:
    """One finished fine-tuned model in the registry."""

    kind: str
    path: Path
    created: str  # the folder name (timestamp)
    metrics: dict[str, Any]  # {"before": {...}, "after": {...}, ...} as written by ``finish``

    @property
    def label(self) -> str:
        after = self.metrics.get("after", {})
        monitor = self.metrics.get("monitor") or "macro_f1"
        score = after.get(monitor)
        return f"{self.kind} {self.created}" + (f" ({monitor} {score:.3f})" if isinstance(score, float) else "")


def models_root(root: Path | None = None) -> Path:
    """``root`` or ``<user_data_dir>/emolive/models``."""
    if root is not None:
        return Path(root)
    from platformdirs import user_data_dir

    return Path(user_data_dir("emolive")) / "models"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise EmoliveError(f"unknown model kind {kind!r} (one of {', '.join(KINDS)})")


def run_dir(kind: str, root: Path | None = None, now: datetime | None = None, resume: bool = True) -> Path:
    """Folder for a training run (not created): the newest unfinished one, to resume it, or a new timestamped one."""
    _check_kind(kind)
    base = models_root(root) / kind
    if resume:
        unfinished = [d for d in _dirs(base) if (d / "last.pt").is_file() and not (d / CARD_NAME).is_file()]
        if unfinished:
            return unfinished[-1]
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


def _dirs(base: Path) -> list[Path]:
    return sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []


def finish(directory: Path, kind: str, before: dict[str, Any], after: dict[str, Any], command: list[str] | None = None,
           data: str = "", monitor: str = "macro_f1") -> UserModel:
    """Mark a run finished: write its metrics and model card, drop the resume state; returns the registry entry."""
    directory = Path(directory)
    if not (directory / "model.safetensors").is_file():
        raise EmoliveError(f"training left no model in {directory}")
    metrics = {"kind": kind, "before": before, "after": after, "monitor": monitor, "data": data,
               "command": list(command or [])}
    (directory / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n")
    (directory / CARD_NAME).write_text(model_card(kind, before, after, data, command or [], monitor))
    last = directory / "last.pt"
    if last.is_file():
        last.unlink()
    return UserModel(kind, directory, directory.name, metrics)


def _metric_rows(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rows = ["| metric | before | after |", "|---|---|---|"]
    for key in ("accuracy", "macro_f1", "weighted_f1", "sentiment_macro_f1", "score", "n"):
        if key in before or key in after:
            rows.append(f"| {key} | {_fmt(before.get(key))} | {_fmt(after.get(key))} |")
    return rows


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def model_card(kind: str, before: dict[str, Any], after: dict[str, Any], data: str, command: list[str],
               monitor: str) -> str:
    """Markdown card of a fine-tuned model (validation metrics before/after, confusion matrix, data, limits)."""
    lines = [f"# emolive {kind} model, fine-tuned {datetime.now():%Y-%m-%d %H:%M}", "",
             "## Data", "", f"Trained on: `{data or 'see command'}`.", "", LICENCE_NOTE, "",
             "## Validation (held-back split of that data)", "", f"Monitored metric: `{monitor}`.", "",
             *_metric_rows(before, after), ""]
    confusion, labels = after.get("confusion"), after.get("labels")
    if confusion and labels:
        lines += ["Confusion matrix after fine-tuning (rows true, columns predicted):", "",
                  "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |"
                  for label, row in zip(labels, confusion, strict=False)]
        lines.append("")
    lines += ["## Command", "", "```", " ".join(command), "```", "",
              "## Intended use and limits", "",
              "Personal use inside emolive: the metrics above are on the held-back part of the data it was "
              "fine-tuned on, which may be small and unlike other people or settings. Emotion estimates from "
              "faces, voices and words are uncertain and must not be used for decisions about people.", ""]
    return "\n".join(lines)


def list_models(kind: str | None = None, root: Path | None = None) -> list[UserModel]:
    """Finished fine-tuned models (weights, config and card present), newest first."""
    kinds = [kind] if kind else list(KINDS)
    found: list[UserModel] = []
    for k in kinds:
        _check_kind(k)
        for d in _dirs(models_root(root) / k):
            if all((d / n).is_file() for n in ("model.safetensors", "config.json", CARD_NAME)):
                try:
                    metrics = json.loads((d / METRICS_NAME).read_text())
                except (OSError, json.JSONDecodeError):
                    metrics = {}
                found.append(UserModel(k, d, d.name, metrics))
    return sorted(found, key=lambda m: m.created, reverse=True)


def activate(inference: InferenceConfig, kind: str, path: Path | str) -> InferenceConfig:
    """``inference`` with the ``kind`` model taken from ``path`` (fusion also gets its architecture)."""
    _check_kind(kind)
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        raise EmoliveError(f"no model in {path}")
    changes: dict[str, Any] = {CONFIG_FIELD[kind]: str(path)}
    if kind == "fusion":
        from emolive.models.io import load_config

        changes["fusion"] = "crossmodal" if load_config(path).get("kind") == "crossmodal" else "late"
    return replace(inference, **changes)


def model_in_use(inference: InferenceConfig, kind: str) -> Path:
    """The folder of the ``kind`` model that ``inference`` uses (the bundled one unless another is chosen)."""
    _check_kind(kind)

    chosen = getattr(inference, CONFIG_FIELD[kind])
    return Path(chosen) if chosen else default_model_dir(kind)


def revert(inference: InferenceConfig, kind: str) -> InferenceConfig:
    """``inference`` back on the bundled default model of ``kind``."""
    _check_kind(kind)
    changes: dict[str, Any] = {CONFIG_FIELD[kind]: ""}
    if kind == "fusion":
        changes["fusion"] = "late"
    return replace(inference, **changes)
