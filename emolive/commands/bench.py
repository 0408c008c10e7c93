"""Measure the live pipeline (paced like live input): step latency, per-stage latency, drops, CPU, memory."""

from __future__ import annotations

import argparse
import json
from array import array
from pathlib import Path

from emolive.commands.argtypes import positive_seconds
from emolive.core.threads import exit_leaving_threads


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="synthetic",
                        help="'synthetic' (the demo clip's face, looped, with a tone) or a media file path")
    parser.add_argument("--seconds", type=positive_seconds, default=20.0,
                        help="how long to run, above 0 (default 20)")
    parser.add_argument("--no-asr", action="store_true", help="measure without transcription running")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--outputs", action="store_true",
                        help="measure the live outputs instead: step time and CPU with LSL and the WebSocket off and "
                             "on in turn (--seconds per phase, 4 phases), and their latency to a real client of each")
    parser.add_argument("--profile", action="store_true",
                        help="also measure CPU-seconds per second of input by stage (capture, colour conversion, "
                             "detection, face CNN, voice VAD and encoder, transcription, text, fusion) and the total "
                             "(not with --outputs)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set inference.budget_ms=60")


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    arr = np.asarray(values)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p95": round(float(np.percentile(arr, 95)), 2),
            "max": round(float(arr.max()), 2)}


def _synthetic_factory(seconds: float):
    from emolive.capture.synthetic import SyntheticSource
    from emolive.models.assets import demo_clip

    image = None
    clip = demo_clip()
    if clip.is_file():
        from emolive.capture.media_file import MediaFileSource
        from emolive.core.clock import SessionClock
        from emolive.core.contracts import VideoFrame

        first = next((i for i in MediaFileSource(clip, SessionClock(), realtime=False).iter_media()
                      if isinstance(i, VideoFrame)), None)
        image = None if first is None else first.image

    def factory(pipeline):
        return SyntheticSource(pipeline.clock, pipeline.frames, pipeline.audio, seconds=seconds + 5, image=image,
                               audio="tone", realtime=True, on_event=pipeline.sinks.on_event)

    return factory


def _measure(seconds: float) -> bool:
    """Let the pipeline run for ``seconds``; True when Ctrl+C ended it early (the figures so far are reported)."""
    import time

    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        return True
    return False


def run(args: argparse.Namespace) -> int:
    import resource
    import threading
    import time

    from emolive.config import load_config
    from emolive.core.contracts import EventKind
    from emolive.core.errors import EmoliveError, not_a_file
    from emolive.core.memory import rss_mb
    from emolive.runtime.pipeline import LivePipeline
    from emolive.runtime.sinks import CallbackSink

    config = load_config(args.config, args.set)
    video = None
    factory = None
    if args.source == "synthetic":
        factory = _synthetic_factory(args.seconds * 4 + 20 if getattr(args, "outputs", False) else args.seconds)
    else:
        video = Path(args.source)
        if not video.is_file():
            raise EmoliveError(not_a_file(video))
    if args.outputs:
        return _bench_outputs(args, config, video, factory)
    # only what the figures read, 8 bytes per stage and step: keeping each estimate (its channels' embeddings) grew
    # a long run by MBs a minute, and even its latency tuples by 0.3 MB a minute (tracemalloc), which a soak reads
    latencies: dict[str, array] = {}
    counts = {"steps": 0, "shed": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def on_estimate(estimate) -> None:
        with lock:
            for stage, ms in estimate.latency_ms:
                latencies.setdefault(stage, array("d")).append(ms)
            counts["steps"] += 1
            counts["shed"] += bool(estimate.degraded)

    def on_event(event) -> None:
        if event.kind == EventKind.ERROR:
            errors.append(f"{event.source}: {event.message}")

    pipeline = LivePipeline(config, video=video, camera=None, microphone=None, asr=not args.no_asr,
                            sinks=[CallbackSink(estimate=on_estimate, event=on_event)], source_factory=factory,
                            loop=True)
    try:
        pipeline.start()  # loads and warms up the models before the clock of the measurement starts
        loaded_mb = rss_mb().get("rss")
        profile = _start_profile(pipeline, config) if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with lock:
            latencies.clear()
            counts.update(steps=0, shed=0)
        interrupted = _measure(args.seconds)
        cpu1, wall1 = time.process_time(), time.perf_counter()
    except BaseException:  # Ctrl+C while loading, or an error: the pipeline's threads must not keep the process up
        pipeline.stop()
        raise
    if profile is not None:
        profile.stop(wall1 - wall0)  # live: a second of input per second
    status = pipeline.status()
    late = pipeline.stop()
    if profile is not None:
        profile.unwrap()
    with lock:
        stages = {stage: list(values) for stage, values in latencies.items()}
        steps, shed = counts["steps"], counts["shed"]
    result = {
        "source": args.source,
        "seconds": round(wall1 - wall0, 2),
        "step_ms": _percentiles(stages.get("total", [])),
        "stages": {k: _percentiles(v) for k, v in stages.items() if k != "total"},
        "steps_per_s": round(steps / max(wall1 - wall0, 1e-9), 2),
        "dropped": status.dropped_steps,
        "cpu_percent": round(100 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-9), 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_loaded_mb": loaded_mb,
        "asr": not args.no_asr and pipeline.transcriber is not None,
        "asr_lag_s": status.asr_lag_s,
        "budget_ms": config.inference.budget_ms,
        "voice_thread": config.inference.voice_thread,
        "degraded": status.degraded,
        "degraded_share": round(shed / max(steps, 1), 3),
        "errors": errors,
        "interrupted": interrupted,
        **({"profile": profile.as_dict()} if profile is not None else {}),
    }
    if args.json:
        print(json.dumps(result))
        return _finished(late, 130 if interrupted else 0)
    s = result["step_ms"]
    print(f"{result['steps_per_s']} steps/s over {result['seconds']} s, dropped {result['dropped']}, "
          f"transcription {'on' if result['asr'] else 'off'}")
    print(f"step latency: p50 {s['p50']} ms, p95 {s['p95']} ms, max {s['max']} ms (budget {result['budget_ms']} ms)")
    for stage, v in result["stages"].items():
        print(f"  {stage:<8} p50 {v['p50']:>7} ms  p95 {v['p95']:>7} ms  max {v['max']:>7} ms")
    if result["voice_thread"] and "voice" in result["stages"]:
        print("  (voice: the windows are scored on their own thread beside the steps, not part of the step's time)")
    if "detect" in result["stages"]:
        print("  (detect: face detection rounds on their own thread beside the steps, not part of the step's time)")
    print(f"CPU {result['cpu_percent']}% of one core, peak RSS {result['rss_mb']} MB "
          f"({result['rss_loaded_mb']} MB with the models loaded); "
          f"{100 * result['degraded_share']:.0f}% of steps shed work"
          + (f" (at the end: {result['degraded']})" if result["degraded"] else ""))
    if profile is not None:
        from emolive.runtime.profiling import format_table

        print(format_table(result["profile"]))
    for error in errors:
        print(f"warning: {error}")
    if interrupted:
        print(f"interrupted: the figures cover the first {result['seconds']} s")
    return _finished(late, 130 if interrupted else 0)


def _finished(left_behind: list[str], code: int = 0) -> int:
    """``code`` (130: interrupted), or the process ends here with it when the pipeline's stop left threads behind
    (see exit_leaving_threads)."""
    if left_behind:
        exit_leaving_threads(code, left_behind)
    return code


def _start_profile(pipeline, config):  # noqa: ANN001, ANN202
    """A started ``runtime.profiling.CpuProfile`` over the running pipeline (its stages wrapped)."""
    from emolive.runtime.profiling import CpuProfile, instrument_live

    whisper = None
    if pipeline.transcriber is not None:
        from emolive.asr.models import shared_whisper

        whisper = shared_whisper(config.asr.model, threads=config.asr.threads)  # the transcriber's, already loaded
    profile = CpuProfile()
    instrument_live(profile, pipeline, whisper)
    profile.start()
    return profile


def _bench_outputs(args: argparse.Namespace, config, video, factory) -> int:  # noqa: ANN001
    """``--outputs``: emolive.outputs.bench on the same pipeline as the plain bench."""
    from emolive.outputs.bench import measure
    from emolive.runtime.pipeline import LivePipeline

    def build(config, sinks):  # noqa: ANN001, ANN202
        return LivePipeline(config, video=video, camera=None, microphone=None, asr=not args.no_asr, sinks=sinks,
                            source_factory=factory, loop=True)

    result = measure(config, build, args.seconds)
    if args.json:
        print(json.dumps(result))
        return 0
    for kind in ("off", "on"):
        s = result["step_ms"][kind]
        print(f"outputs {kind:<3}: step p50 {s['p50']} ms, p95 {s['p95']} ms ({s['n']} steps), "
              f"CPU {result['cpu_percent'][kind]}% of one core")
    for kind, h in result["hand_over_us"].items():
        print(f"hand-over on the worker thread, outputs {kind}: p50 {h['p50']} us, p95 {h['p95']} us per step")
    for kind, v in result["latency_ms"].items():
        print(f"latency to the {kind} client: p50 {v['p50']} ms, p95 {v['p95']} ms, max {v['max']} ms ({v['n']} steps)")
    return 0

