"""Where the CPU goes: CPU-seconds per stage of the pipeline, measured per thread while it runs.

``CpuProfile`` adds up, for each named stage, the CPU time of the thread that runs it (``time.thread_time``,
exclusive: a stage nested in another counts once, in the inner one). Work that Python threads hand to native
threads is read from the kernel's per-thread CPU clocks: FFmpeg's frame threads count as decoding, CTranslate2's
Whisper workers go to the stage waiting on them (``NATIVE_SUFFIX`` rows). ``total`` is the process's CPU time over
the same span (``time.process_time``); what no row explains is ``unattributed``.

``instrument_*`` wrap the methods of one session's objects (instance attributes, removed by ``unwrap``; nothing
global): a profiled run computes exactly what an unprofiled one does, plus a few clock reads per call.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Stage names, in pipeline order (the table's rows)
DECODE = "capture/decode"
DECODE_NATIVE = "capture/decode (FFmpeg threads)"
COLOUR = "colour conversion"
DETECT = "face detection"
FACE_CNN = "face CNN"
FACE_REST = "face channel (grey, tracking, crop)"
VAD = "voice VAD"
VOICE_ENCODER = "voice encoder"
VOICE_REST = "voice channel (other)"
ASR_DECODE = "transcription decodes"
ASR_REST = "transcription stream (other)"
NATIVE_SUFFIX = " (CTranslate2 workers)"
NATIVE_WORKERS = "native threads (other)"
TEXT = "text encoder"
FUSION = "fusion"
STEP_REST = "step (other)"
RECORDING = "recording"
STAGES = (DECODE, DECODE_NATIVE, COLOUR, DETECT, FACE_CNN, FACE_REST, VAD, VOICE_ENCODER,
          VOICE_ENCODER + NATIVE_SUFFIX, VOICE_REST, ASR_DECODE, ASR_DECODE + NATIVE_SUFFIX, ASR_REST, NATIVE_WORKERS,
          TEXT, FUSION, STEP_REST, RECORDING)
UNATTRIBUTED = "unattributed"


def _thread_clock(native_id: int) -> int:
    """The kernel's CPU clock of one thread of this process (Linux: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED))."""
    return ((~native_id) << 3) | 6


def _thread_cpu(native_id: int) -> float | None:
    """CPU seconds of one thread of this process; None when it has ended or the system has no such clocks
    (not Linux: the native threads and watched threads are then not counted, they stay unattributed)."""
    gettime = getattr(time, "clock_gettime", None)  # absent on Windows
    if gettime is None:
        return None
    try:
        return gettime(_thread_clock(native_id))
    except OSError:
        return None


def _native_threads() -> dict[int, str]:
    """Threads of this process that Python did not start: thread id -> name (``comm``)."""
    python = {t.native_id for t in threading.enumerate()}
    out: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/task"):
            tid = int(name)
            if tid in python:
                continue
            try:
                with open(f"/proc/self/task/{name}/comm") as f:
                    out[tid] = f.read().strip()
            except OSError:
                continue
    return out


def native_stages(thread_name: str, active: dict[str, int]) -> list[str]:
    """The rows a native thread's CPU since the last read goes to, shared equally: FFmpeg's threads are named
    ``av:...``; the others work for the stages that wait on native workers (``wrap(..., native=True)``: Whisper's
    encoder and decodes on CTranslate2's workers) that were running meanwhile, or for none of them."""
    if thread_name.startswith("av:"):
        return [DECODE_NATIVE]
    waiting = [stage + NATIVE_SUFFIX for stage, n in active.items() if n > 0]
    return waiting or [NATIVE_WORKERS]


@dataclass
class _Frame:
    stage: str
    start: float
    inner: float = 0.0  # CPU of the stages nested in this one
    waits: bool = False  # the outermost frame of this thread that waits on native workers


@dataclass
class CpuProfile:
    """CPU-seconds by stage over one run (see the module's docstring); ``start`` and ``stop`` bound the run."""

    stages: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    media_s: float = 0.0
    wall_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _native: dict[int, tuple[str, float]] = field(default_factory=dict, repr=False)  # tid -> (name, last CPU read)
    _native_seen: float = 0.0
    _watched: list[tuple[threading.Thread, str, float]] = field(default_factory=list, repr=False)
    _by_thread: dict[int, float] = field(default_factory=dict, repr=False)  # CPU of stages per Python thread
    _started: tuple[float, float] | None = None
    _running = False  # between start and stop: only then do stages and native threads count
    _wrapped: list[tuple[Any, str]] = field(default_factory=list, repr=False)
    _active: dict[str, int] = field(default_factory=dict, repr=False)  # stages waiting on native workers now
    _listed: tuple[float, dict[int, str]] = (-1.0, {})  # when the native threads were last listed, and them
    shared_native: float = 0.0  # native CPU split between several stages waiting at once

    # --- the run ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._started = (time.process_time(), time.perf_counter())
        self._running = True
        self.sample_native(force=True)

    def stop(self, media_s: float) -> None:
        """End the run: ``media_s`` media seconds were processed."""
        if self._started is None:
            raise RuntimeError("CpuProfile.stop before start")
        self.sample_native(force=True)
        for thread, stage, cpu0 in self._watched:
            if thread.native_id is None:
                continue
            cpu1 = _thread_cpu(thread.native_id)
            if cpu1 is not None:
                with self._lock:
                    own = self._by_thread.get(thread.native_id, 0.0)
                    self._add(stage, max(0.0, cpu1 - cpu0 - own))
        cpu0, wall0 = self._started
        with self._lock:  # nothing counts after this (threads still finishing, the models still wrapped)
            self._running = False
            self.total = time.process_time() - cpu0
            self.wall_s = time.perf_counter() - wall0
            self.media_s = media_s

    def watch(self, thread: threading.Thread | None, stage: str) -> None:
        """Count the CPU of a running Python thread that no stage inside it explains as ``stage`` (live:
        capture sources and the transcriber run before any wrapper could reach their loops)."""
        if thread is None or thread.native_id is None:
            return
        cpu = _thread_cpu(thread.native_id)
        if cpu is not None:
            with self._lock:
                self._by_thread.setdefault(thread.native_id, 0.0)
            self._watched.append((thread, stage, cpu - self._stage_cpu(thread.native_id)))

    def _stage_cpu(self, native_id: int) -> float:
        with self._lock:
            return self._by_thread.get(native_id, 0.0)

    def sample_native(self, force: bool = False) -> None:
        """Read the native threads' CPU clocks and add what they used since the last read to their rows; unless
        ``force``, at most every 50 ms (a native thread that ends between two reads loses that bit)."""
        with self._lock:
            self._sample(force)

    def _sample(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._native_seen < 0.05:
            return
        self._native_seen = now
        if now - self._listed[0] > 0.5 or force and now - self._listed[0] > 0.05:
            self._listed = (now, _native_threads())
        threads = self._listed[1]
        for tid, name in threads.items():
            cpu = _thread_cpu(tid)
            if cpu is None:
                continue
            old = self._native.get(tid)
            if old is not None and self._running:
                rows = native_stages(name, self._active)
                if len(rows) > 1:
                    self.shared_native += max(0.0, cpu - old[1])
                for row in rows:
                    self._add(row, max(0.0, cpu - old[1]) / len(rows))
            self._native[tid] = (name, cpu)
        for tid in [t for t in self._native if t not in threads]:
            del self._native[tid]

    # --- stages ----------------------------------------------------------------------------------------
    def _add(self, stage: str, seconds: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def enter(self, stage: str, native: bool = False) -> None:
        stack = self._stack()
        waits = native and not any(f.waits for f in stack)
        if waits:  # the native threads' CPU so far belongs to what ran before this call
            with self._lock:
                self._sample(force=True)
                self._active[stage] = self._active.get(stage, 0) + 1
        stack.append(_Frame(stage, time.thread_time(), waits=waits))

    def leave(self) -> None:
        stack = self._stack()
        frame = stack.pop()
        spent = time.thread_time() - frame.start
        if stack:
            stack[-1].inner += spent
        with self._lock:
            if frame.waits:
                self._sample(force=True)
                self._active[frame.stage] -= 1
            if not self._running:
                return
            self._add(frame.stage, max(0.0, spent - frame.inner))
            if not stack:
                tid = threading.get_native_id()
                self._by_thread[tid] = self._by_thread.get(tid, 0.0) + spent
                self._sample()

    def _stack(self) -> list[_Frame]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def timed(self, stage: str, fn: Callable[..., Any], native: bool = False) -> Callable[..., Any]:
        """``fn`` counted as ``stage``; a generator it returns is counted at each item it yields. ``native``: it
        waits on native worker threads, whose CPU meanwhile goes to ``stage + NATIVE_SUFFIX``."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.enter(stage, native)
            try:
                out = fn(*args, **kwargs)
            finally:
                self.leave()
            return self.timed_iter(stage, out, native) if isinstance(out, Iterator) and hasattr(out, "send") else out

        return wrapper

    def timed_iter(self, stage: str, items: Iterator[Any], native: bool = False) -> Iterator[Any]:
        while True:
            self.enter(stage, native)
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                self.leave()
            yield item

    def wrap(self, obj: Any, method: str, stage: str, native: bool = False) -> None:
        """Count ``obj.method`` as ``stage`` from now on (an instance attribute; absent methods are skipped)."""
        fn = getattr(obj, method, None) if obj is not None else None
        own = getattr(obj, "__dict__", None)
        if callable(fn) and own is not None and method not in own:
            setattr(obj, method, self.timed(stage, fn, native))
            self._wrapped.append((obj, method))

    def unwrap(self) -> None:
        """Remove every wrapper ``wrap`` set (the models outlive a profiled run)."""
        for obj, method in reversed(self._wrapped):
            with contextlib.suppress(AttributeError):
                delattr(obj, method)
        self._wrapped.clear()

    # --- the result ------------------------------------------------------------------------------------
    def rows(self) -> dict[str, float]:
        """CPU-seconds by stage (every stage named, 0.0 where none ran) and ``unattributed``."""
        with self._lock:
            rows = {s: self.stages.get(s, 0.0) for s in STAGES}
            rows.update({s: v for s, v in self.stages.items() if s not in rows})
        rows[UNATTRIBUTED] = self.total - sum(rows.values())
        return rows

    def as_dict(self) -> dict[str, Any]:
        per = max(self.media_s, 1e-9)
        rows = self.rows()
        return {"media_s": round(self.media_s, 3), "wall_s": round(self.wall_s, 3),
                "cpu_s": round(self.total, 3), "cpu_s_per_media_s": round(self.total / per, 4),
                "native_shared_cpu_s": round(self.shared_native, 3),
                "stages": {k: {"cpu_s": round(v, 3), "per_media_s": round(v / per, 4),
                               "share": round(v / self.total, 4) if self.total > 0 else 0.0}
                           for k, v in rows.items()}}


def format_table(profile: dict[str, Any]) -> str:
    """The profile as a plain-text table (``CpuProfile.as_dict``)."""
    lines = [f"{'stage':<46} {'CPU s':>8} {'CPU s / media s':>16} {'share':>7}"]
    for stage, row in profile["stages"].items():
        lines.append(f"{stage:<46} {row['cpu_s']:>8.3f} {row['per_media_s']:>16.4f} {100 * row['share']:>6.1f}%")
    lines.append(f"{'process total':<46} {profile['cpu_s']:>8.3f} {profile['cpu_s_per_media_s']:>16.4f} "
                 f"{'100.0%':>7}")
    lines.append(f"over {profile['media_s']:.1f} s of media in {profile['wall_s']:.1f} s of wall time; "
                 f"{profile['native_shared_cpu_s']:.2f} CPU s of native workers shared equally between stages "
                 "that waited on them at once")
    return "\n".join(lines)


def instrument_channels(profile: CpuProfile, face: Any, voice: Any, text: Any, fuser: Any,
                        worker: Any = None) -> None:
    """Wrap the stages of one engine's channels, fuser and worker step (models loaded, before the run)."""
    if face is not None:
        profile.wrap(face, "process", FACE_REST)
        profile.wrap(getattr(face, "predictor", None), "predict", FACE_CNN)
        detector = getattr(face, "detector", None)
        profile.wrap(detector, "detect", DETECT)
        profile.wrap(detector, "detect_near", DETECT)
    if voice is not None:
        profile.wrap(voice, "process", VOICE_REST)
        profile.wrap(getattr(voice, "speech", None), "covering", VAD)
        profile.wrap(getattr(voice, "_backend", None), "window", VOICE_ENCODER, native=True)
    profile.wrap(text, "process", TEXT)
    profile.wrap(fuser, "fuse", FUSION)
    if worker is not None:
        profile.wrap(worker, "step", STEP_REST)


def instrument_whisper(profile: CpuProfile, model: Any) -> None:
    """Wrap the shared Whisper model's decodes (their native side: ``ASR_DECODE + NATIVE_SUFFIX``)."""
    profile.wrap(model, "transcribe", ASR_DECODE, native=True)
    profile.wrap(model, "generate_segments", ASR_DECODE, native=True)


def instrument_stream(profile: CpuProfile, stream: Any) -> None:
    """Wrap an offline transcription stream: its own work and its decoder's Whisper model."""
    for method in ("feed", "step", "finish"):
        profile.wrap(stream, method, ASR_REST)
    instrument_whisper(profile, getattr(getattr(stream, "decoder", None), "model", None))


def instrument_source(profile: CpuProfile, source: Any) -> None:
    """Wrap a media file source: decoding (its ``iter_media`` items) and the conversion of frames to images."""
    profile.wrap(source, "iter_media", DECODE)
    profile.wrap(source, "_image", COLOUR)


def instrument_live(profile: CpuProfile, pipeline: Any, whisper: Any = None) -> None:
    """Wrap the stages of a started live pipeline and watch its capture and transcriber threads (their loops
    run already: what no wrapped stage inside them explains counts as capture/decode and transcription stream)."""
    worker = pipeline.worker
    if worker is not None:
        instrument_channels(profile, worker.face, worker.voice, worker.text, worker.fuser, worker)
    for source in pipeline.sources:
        profile.wrap(source, "_image", COLOUR)
        profile.watch(getattr(source, "_thread", None), DECODE)  # OwnThread's thread
    transcriber = getattr(pipeline, "transcriber", None)
    if transcriber is not None:
        profile.watch(getattr(transcriber, "_thread", None), ASR_REST)
    if whisper is not None:
        instrument_whisper(profile, whisper)
