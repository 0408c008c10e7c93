"""The sidecar ``OUT.json`` of an analysis: what produced ``OUT`` (models, settings, input) and how it ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emolive import __version__
from emolive.config import AppConfig, to_dict
from emolive.core.errors import EmoliveError, plain_reason
from emolive.recording import schema
from emolive.recording.metadata import read_json, utc_now, write_json_atomic

FORMAT = "emolive-analysis"
FORMAT_VERSION = 1


def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def read_sidecar(out: Path) -> dict[str, Any] | None:
    """The sidecar of ``out``, or None when it is missing, unreadable or not an analysis sidecar."""
    return read_json(sidecar_path(out), FORMAT)


def write_sidecar(out: Path, data: dict[str, Any]) -> None:
    try:
        write_json_atomic(sidecar_path(out), data)
    except OSError as exc:
        raise EmoliveError(f"cannot write {out} (its sidecar {sidecar_path(out).name}): {plain_reason(exc)}") from exc


def new_sidecar(path: Path, out: Path, duration_s: float, config: AppConfig, mark: dict[str, Any],
                old: dict[str, Any] | None, resumed: bool, resumed_from_s: float | None) -> dict[str, Any]:
    """The sidecar written when a job starts (status ``running``); a resumed run keeps its first start time."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "app_version": __version__,
            "csv_schema": schema.SCHEMA_VERSION, "input": str(path.resolve()), "csv": out.name,
            "duration_s": round(duration_s, 3), "status": "running",
            "started_utc": old.get("started_utc", utc_now()) if resumed and old else utc_now(),
            "resumed": resumed, "resumed_from_s": resumed_from_s,
            "fingerprint": mark, "settings": to_dict(config),
            "clock": "t is seconds of the file's own clock (media time) at each step"}
