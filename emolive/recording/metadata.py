"""The session sidecar (session.json): what produced a recording, so it can be trusted and replayed."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emolive import __version__
from emolive.models.assets import assets_dir
from emolive.models.io import sha256_file
from emolive.recording.files import replaced_whole
from emolive.recording.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

SIDECAR_NAME = "session.json"
CSV_NAME = "session.csv"
TRANSCRIPT_NAME = "transcript.jsonl"
AUDIO_NAME = "audio.wav"
VIDEO_NAME = "video.mp4"
FORMAT_VERSION = 1
MODEL_KINDS: tuple[str, ...] = ("face", "voice", "text", "fusion")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def model_folders(config: Any = None) -> dict[str, Path]:
    """Model folder per kind: the configured override (``inference.<kind>_model``) or the bundled asset."""
    folders = {p.parent.name: p.parent for p in sorted(assets_dir().glob("*/model.safetensors"))}
    inference = getattr(config, "inference", None)
    for kind in MODEL_KINDS:
        override = getattr(inference, f"{kind}_model", "") if inference is not None else ""
        if override:
            folders[kind] = Path(override)
    return folders


def describe_models(folders: dict[str, Path]) -> dict[str, Any]:
    """Identifier (path, config) and sha256 of each model's weights; unreadable ones say why."""
    models: dict[str, Any] = {}
    for kind, folder in sorted(folders.items()):
        weights = folder / "model.safetensors"
        entry: dict[str, Any] = {"path": str(folder)}
        try:
            entry["sha256"] = sha256_file(weights)
            entry["bytes"] = weights.stat().st_size
        except OSError as exc:
            entry["error"] = f"cannot read {weights}: {exc.strerror or exc}"
        try:
            entry["config"] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry["config"] = None
        models[kind] = entry
    return models


def _as_dict(config: Any) -> Any:
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return dict(config)


def runtime_devices() -> dict[str, Any]:
    """What the process runs on; torch is only asked when something already imported it."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        try:
            info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        except Exception as exc:  # a broken driver must not stop a recording
            info["cuda"] = f"unavailable ({exc})"
    return info


def build_sidecar(started_utc: str, started_session_s: float, config: Any = None,
                  devices: dict[str, Any] | None = None, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar written when a recording starts; ``models`` follows from ``describe_models`` (slow: hashes)."""
    return {
        "format": "emolive-session",
        "format_version": FORMAT_VERSION,
        "csv_schema": SCHEMA_VERSION,
        "app_version": __version__,
        "started_utc": started_utc,
        "started_session_s": round(started_session_s, 6),
        "clock": "t columns are seconds on the session clock (time.monotonic minus the session origin)",
        "files": {"estimates": CSV_NAME, "transcript": TRANSCRIPT_NAME},
        "raw": raw or {},
        "models": None,
        "config": _as_dict(config),
        "devices": {**runtime_devices(), **(devices or {})},
    }


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` so a reader (or a crash) never sees half a file (nor a stray ``.tmp``)."""
    with replaced_whole(path, fsync=True) as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")


def read_json(path: Path, format_name: str | None = None) -> dict[str, Any] | None:
    """The JSON object in ``path`` (a sidecar), or None when it is missing, unreadable, not an object or (with
    ``format_name``) of another format: the one sidecar reader of recordings and offline analyses."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or format_name is not None and data.get("format") != format_name:
        return None
    return data


def read_sidecar(directory: Path) -> dict[str, Any] | None:
    """The session's sidecar, or None when it is missing or unreadable."""
    return read_json(Path(directory) / SIDECAR_NAME)
