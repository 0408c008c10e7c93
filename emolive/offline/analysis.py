"""Offline analysis: the live pipeline's steps driven by a media file's own clock, as fast as the CPU allows.

The same ``InferenceWorker.step`` and the same streaming transcriber run here as in the live app; only the
clock differs (file time instead of the monotonic clock), so results are deterministic and match what the
live view would have shown for the same input. The step side is ``steps.StepRun``, the fast path
``pipelined``, the snapshots for ``--resume`` ``checkpoints``; ``_stepwise`` here is the one-thread reference.

``AnalysisSummary`` and ``Checkpoints`` are part of this module's interface.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emolive.asr.builder import build_stream as build
from emolive.asr.streaming import StreamConfig, StreamingTranscriber
from emolive.capture.media_file import MediaFileSource
from emolive.config import AppConfig, AsrConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import EmotionEstimate, TranscriptSegment
from emolive.core.snapshot import SnapshotError
from emolive.models.device import limit_native_threads
from emolive.offline.checkpoints import Checkpoints, Snapshotter, cannot_snapshot, restore_run
from emolive.offline.pipelined import Transcription, run_pipelined
from emolive.offline.steps import AnalysisSummary, StepRun
from emolive.runtime.channels import Channels, load_channels
from emolive.runtime.engine import build_engine, new_rings
from emolive.runtime.profiling import (
    RECORDING,
    CpuProfile,
    instrument_channels,
    instrument_source,
    instrument_stream,
)

log = logging.getLogger(__name__)


def offline_stream_config(config: AsrConfig) -> StreamConfig:
    """The transcription policy offline: on the file's clock, one decode per utterance unless asked otherwise."""
    return StreamConfig(interval_s=config.interval_s, file_clock=True, partials=config.offline_partials,
                        pack_s=config.offline_pack_s)


def make_stream(decoder: Any, config: AsrConfig, vad: Any = None) -> StreamingTranscriber:
    """The streaming transcriber on the file's clock around ``decoder``: its commits depend on the audio only."""
    return StreamingTranscriber(decoder, vad=vad, config=offline_stream_config(config))


def build_stream(config: AsrConfig) -> StreamingTranscriber:
    """The transcription stream offline: ``asr.builder.build_stream`` (as live) with the offline policy."""
    return build(config.model, offline_stream_config(config), language=config.language or None,
                 threads=config.threads, min_pass_s=config.min_pass_s)


def analyze_file(path: str | Path, config: AppConfig, asr: bool = True, channels: Channels | None = None,
                 on_estimate: Callable[[EmotionEstimate], None] | None = None,
                 on_segment: Callable[[TranscriptSegment], None] | None = None,
                 progress: Callable[[float], None] | None = None, stream: Any = None,
                 skip_until: float | None = None, pipelined: bool = True, checkpoints: Checkpoints | None = None,
                 restore: dict[str, Any] | None = None, profile: CpuProfile | None = None) -> AnalysisSummary:
    """Analyse one file; ``on_estimate`` receives every step's estimate in time order.

    ``progress`` receives the media seconds done so far. ``skip_until`` (resuming): steps at or before this
    file time are computed (the pipeline's state depends on them) but not passed to ``on_estimate``.
    ``checkpoints``: every ``checkpoints.every_s`` media seconds, at a step boundary, the state the later steps
    depend on goes to ``checkpoints.save`` (see ``Snapshotter``); ``restore`` (such a state, same file, models
    and settings) continues from there: the media is decoded from the start, but nothing before the snapshot is
    computed again. Both need the pipelined path and channels, a fuser and a stream that can snapshot (else
    ``checkpoints`` is ignored with a log line and ``restore`` is a SnapshotError).
    Transcript updates reach the worker at the first step at or after their emission time, as live.
    ``pipelined`` (default): decoding and transcription run in their own threads, ahead of the steps, as fast as
    they go; ``pipelined=False`` is the step-wise reference (one thread, decode -> transcribe -> step in turn).
    Both give the same rows: each step waits until the transcriber has seen the audio up to its time.
    ``profile``: CPU-seconds by stage over the run (models loaded before it) go there (``runtime.profiling``).
    """
    loading = time.perf_counter()
    source = MediaFileSource(path, SessionClock(), realtime=False)
    info = source.info
    channels = channels or load_channels(config.inference, face=info.has_video, voice=info.has_audio,
                                         people=config.people)
    if asr and info.has_audio and stream is None and config.asr.enabled:
        stream = build_stream(config.asr)
    if not info.has_audio:
        stream = None
    # Idle BLAS/OpenMP threads spin between calls and take the cores the pipeline's own threads need: capped, the
    # 114 s demo clip took 0.7x the CPU and 0.8x the wall time (docs/experiments/2026-12-08-offline-blas-threads.md)
    limit_native_threads(config.inference.threads)
    # each file is a session (build_engine resets the face tracks and the voice's speaker statistics)
    engine = build_engine(config, channels, rings=new_rings(config, offline=True), face=info.has_video,
                          voice=info.has_audio, shed_load=False)
    frames, audio, worker = engine.frames, engine.audio, engine.worker
    if stream is not None and engine.speech is not None:
        stream.use_speech(engine.speech)  # one VAD pass over the file, read by the voice channel and the transcriber
    summary = AnalysisSummary(Path(path), duration_s=info.duration, hop_s=config.inference.hop_s)
    summary.load_s = time.perf_counter() - loading
    run = StepRun(worker, frames, audio, summary, config, info, on_estimate, on_segment, skip_until)
    if checkpoints is not None and checkpoints.every_s > 0 or restore is not None:
        problem = "the step-wise path" if not pipelined else cannot_snapshot(worker, stream)
        if restore is not None:
            if problem:
                raise SnapshotError(f"cannot resume from a snapshot: {problem}")
            restore_run(run, stream, restore)
            summary.resumed_from_s = float(restore["t"])
        if checkpoints is not None and checkpoints.every_s > 0:
            if problem:
                log.info("no checkpoints for %s: %s", path, problem)
            else:
                run.snapshots = Snapshotter(checkpoints, run, config)
    if profile is not None:
        _instrument(profile, source, worker, stream, run)
    started = time.perf_counter()
    try:
        end = run_pipelined(source, run, stream, progress) if pipelined else _stepwise(source, run, stream, progress)
    finally:
        if profile is not None:
            profile.unwrap()
    if profile is not None:
        profile.stop(end - (summary.resumed_from_s or 0.0))
    summary.media_s = end
    summary.wall_s = time.perf_counter() - started
    if progress is not None:
        progress(end)
    return summary


def _instrument(profile: CpuProfile, source: MediaFileSource, worker: Any, stream: Any, run: StepRun) -> None:
    """Count every stage of this run into ``profile`` and start it (the models are loaded by now)."""
    instrument_channels(profile, worker.face, worker.voice, worker.text, worker.fuser, worker)
    instrument_source(profile, source)
    if stream is not None:
        instrument_stream(profile, stream)
    if run.on_estimate is not None:
        run.on_estimate = profile.timed(RECORDING, run.on_estimate)
    profile.start()


def _stepwise(source: MediaFileSource, run: StepRun, stream: Any, progress: Callable[[float], None] | None) -> float:
    """The reference: decode an item, run every step that is due, in one thread; before each step the transcriber
    (on its own reading of the audio, as pipelined) is pulled until it has every segment up to the step."""
    asr = Transcription(stream, run, threading.Event(), source.iter_media(video=False)) if stream is not None else None
    for item in source.iter_media():
        run.write(item)
        while run.next_t() <= run.ready:
            if asr is not None:
                run.take(asr.pump_until(run.next_t()))
            run.emit()
        if progress is not None:
            progress(run.ready)
    end = run.end()
    if asr is not None:
        run.take(asr.pump_until(float("inf")))
        run.take(asr.finish(end))
        run.summary.asr_s += asr.compute_s
    while run.next_t() <= end + 1e-9:
        run.emit()
    if run.pending:  # words committed at the very end get one last estimate (one hop on), as live
        run.emit()
    return end


