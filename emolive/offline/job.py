"""One analysis job: one media file -> CSV + sidecar JSON, resumable.

A job probes its file before any model loads (bad files fail in well under a second and write nothing), writes
rows to ``OUT.partial`` as they are computed (``recording.files.RowFile``), keeps what produced them (models,
settings, input) in the sidecar ``OUT.json`` and renames the partial to ``OUT`` when the file is done. ``resume``
continues a partial from its last complete row after checking the sidecar (``offline.resume``): the analysis is
deterministic on the file's clock, so the rows after the resume point are the ones an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from emolive.capture.media_file import MediaInfo, probe_media
from emolive.config import AppConfig
from emolive.core.errors import EmoliveError, MediaError, plain_reason
from emolive.core.progress import Progress
from emolive.core.snapshot import SnapshotError
from emolive.offline import loaders
from emolive.offline.resume import Start, differences, fingerprint, partial_path, plan, save_snapshot, state_dir
from emolive.offline.sidecar import new_sidecar, read_sidecar, write_sidecar
from emolive.recording import schema
from emolive.recording.files import RowFile
from emolive.recording.metadata import utc_now
from emolive.runtime.profiling import CpuProfile

log = logging.getLogger(__name__)

FLUSH_EVERY = 20  # rows between appends to OUT.partial
CHECKPOINT_EVERY_S = 10.0  # default media seconds between snapshots of the analysis state (resume from there)


@dataclass(frozen=True)
class FileJob:
    """Everything a worker process (or a Dask worker on another machine) needs to analyse one file."""

    path: str
    out: str
    config: AppConfig  # config file and overrides already applied
    asr: bool = True
    resume: bool = False
    allow_partial: bool = False
    overwrite: bool = True  # False in batches: a file already done with the same models and settings is skipped
    progress: bool = False
    duration_s: float = 0.0  # from the probe, for the batch's overall progress
    checkpoint_every_s: float = CHECKPOINT_EVERY_S  # media seconds between state snapshots (0: none)
    profile: bool = False  # CPU-seconds by stage into the summary's "profile" (runtime.profiling)


@dataclass
class JobResult:
    file: str
    csv: str
    status: str  # done | partial | skipped | failed
    duration_s: float = 0.0
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.file, "csv": self.csv, "status": self.status, "duration_s": self.duration_s,
                "error": self.error, **self.summary}


def run_job(job: FileJob, on_progress: Callable[[float], None] | None = None,
            progress_stream: IO[str] | None = None) -> JobResult:
    """Analyse one file (see the module's docstring); EmoliveError for bad input, with nothing written."""
    path, out = Path(job.path), Path(job.out)
    info = probe_media(path)  # before anything loads or is written
    asr = bool(job.asr and job.config.asr.enabled and info.has_audio)
    mark = fingerprint(path, job.config, asr)
    old = read_sidecar(out)
    if not job.overwrite and out.is_file() and old is not None and old.get("status") in ("done", "partial"):
        if old.get("fingerprint") == mark:
            return JobResult(str(path), str(out), "skipped", info.duration, summary=old.get("summary", {}))
        raise EmoliveError(f"{out} exists, made with other settings or models "
                           f"({', '.join(differences(old.get('fingerprint', {}), mark)[:3])}); --overwrite redoes it")
    start = plan(out, mark, old, job.resume)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmoliveError(f"cannot create the folder {out.parent}: {plain_reason(exc)}") from exc
    sidecar = new_sidecar(path, out, info.duration, job.config, mark, old, start.resumed,
                          start.snapshot["t"] if start.snapshot else None)
    write_sidecar(out, sidecar)
    bar = Progress(info.duration, desc=path.name, enabled=job.progress, stream=progress_stream,
                   position=1 if on_progress is not None else None, start=sidecar["resumed_from_s"] or 0.0)

    def progress(done: float) -> None:
        bar.update(done)
        if on_progress is not None:
            on_progress(done)

    try:
        summary, rows = _analyse(job, info, asr, start, mark, sidecar, progress)
    except EmoliveError as exc:  # e.g. a model folder refused at load, a full disk: the sidecar says so
        _record_failure(out, sidecar, str(exc))
        raise
    finally:
        bar.close()
    return _finish(job, info, sidecar, summary, rows)


def _record_failure(out: Path, sidecar: dict[str, Any], message: str) -> None:
    """Mark the sidecar failed with the reason (it said ``running``); a sidecar that cannot be written is left."""
    with contextlib.suppress(EmoliveError):
        write_sidecar(out, {**sidecar, "status": "failed", "error": message, "finished_utc": utc_now()})


def _analyse(job: FileJob, info: MediaInfo, asr: bool, start: Start, mark: dict[str, Any], sidecar: dict[str, Any],
             progress: Callable[[float], None]) -> tuple[Any, int]:
    """Load the models (once per process) and analyse the file into ``OUT.partial``; (summary, rows in it)."""
    from emolive.offline import analysis  # heavy: the whole pipeline, not needed to reject a bad file

    out = Path(job.out)
    loading = time.perf_counter()
    channels = loaders.channels(job.config.inference, job.config.people)
    if asr:
        loaders.whisper(job.config.asr.model, job.config.asr.threads)
    load_s = time.perf_counter() - loading
    states, written = state_dir(out), 0
    try:
        rows = RowFile(partial_path(out), header=schema.header(), exclusive=False, truncate=not start.resumed)
    except OSError as exc:
        raise EmoliveError(f"cannot write {out}: {plain_reason(exc)}") from exc

    def write(estimate: Any) -> None:
        nonlocal written
        for cells in schema.rows(estimate):  # one row per person in view
            rows.add(cells)
            written += 1
        if rows.pending >= FLUSH_EVERY:
            rows.flush()

    def save(state: dict[str, Any]) -> None:
        rows.flush()  # the rows up to the snapshot's step are on disk before the snapshot is
        try:
            save_snapshot(states, state, mark)
        except OSError as exc:
            log.warning("cannot write a snapshot into %s: %s", states, plain_reason(exc))

    every = job.checkpoint_every_s
    profile = CpuProfile() if job.profile else None
    options = {"profile": profile, "asr": asr, "channels": channels, "progress": progress, "on_estimate": write,
               "skip_until": start.skip_until, "checkpoints": analysis.Checkpoints(every, save) if every > 0 else None}
    try:
        try:
            summary = analysis.analyze_file(Path(job.path), job.config, stream=loaders.stream(job.config.asr) if asr
                                            else None, restore=start.snapshot, **options)
        except SnapshotError as exc:  # raised before any step: compute again from the start instead
            log.warning("%s; computing again from the start", exc)
            sidecar["resumed_from_s"] = None
            summary = analysis.analyze_file(Path(job.path), job.config, stream=loaders.stream(job.config.asr) if asr
                                            else None, **options)
        rows.flush()
    except OSError as exc:  # a full disk: the file keeps whole rows only (RowFile)
        raise EmoliveError(f"cannot write {out}: {plain_reason(exc)}") from exc
    finally:
        _close(rows)
    summary.load_s = load_s
    if profile is not None:
        summary.profile = profile.as_dict()
    return summary, start.rows + written


def _close(rows: RowFile) -> None:
    """Keep the rows computed so far (after a crash: for --resume), then close; a failing disk is not raised."""
    with contextlib.suppress(OSError):
        rows.flush()
    rows.close()


def _finish(job: FileJob, info: MediaInfo, sidecar: dict[str, Any], summary: Any, rows: int) -> JobResult:
    """Rename ``OUT.partial`` to ``OUT`` and record how the job ended; MediaError for a file that ended early."""
    path, out = Path(job.path), Path(job.out)
    result = {**summary.as_dict(), "resumed": sidecar["resumed"]}
    sidecar.update(rows=rows, media_s=round(summary.media_s, 3), finished_utc=utc_now(), summary=result)
    if summary.ended_early and not job.allow_partial:
        message = (f"{path} ended early: analysed {summary.media_s:.1f} of {info.duration:.1f} s (truncated or "
                   f"corrupt); the rows so far are in {partial_path(out)}; --allow-partial accepts them")
        write_sidecar(out, {**sidecar, "status": "failed", "error": message})
        raise MediaError(message)
    status = "partial" if summary.ended_early else "done"
    sidecar.update(status=status, error="" if status == "done" else
                   f"ended early: analysed {summary.media_s:.1f} of {info.duration:.1f} s")
    os.replace(partial_path(out), out)
    write_sidecar(out, sidecar)
    shutil.rmtree(state_dir(out), ignore_errors=True)
    return JobResult(str(path), str(out), status, info.duration, sidecar["error"], result)


def safe_run_job(job: FileJob) -> JobResult:
    """``run_job`` for batches: any failure becomes a ``failed`` result, so one bad file never stops the rest."""
    try:
        return run_job(job)
    except EmoliveError as exc:
        return failed(job, str(exc))
    except Exception as exc:  # a bug or an unexpected library error in one file must not end the batch
        log.exception("analysis of %s failed", job.path)
        return failed(job, f"{type(exc).__name__}: {exc}")


def failed(job: FileJob, error: str) -> JobResult:
    return JobResult(job.path, job.out, "failed", job.duration_s, error)
