"""Per-window latency of the voice channel: `python -m training.voice_bench [--model DIR] [--n 200]`.

Times ``VoiceChannel.process`` (VAD + features + model) on a 2 s speech window on one thread and prints
the median and 90th percentile, plus the model alone (features + network, no VAD).

``--vs-base`` instead times the shipped channel against the same channel with the multilingual Whisper base
encoder (the ``whisper-base`` extra) and heads of its width (random weights: only the cost is measured),
interleaved on the same windows, and prints both voice stages, both encoders alone and the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def measure(model_dir: Path | None, n: int, audio: np.ndarray) -> dict[str, float]:
    from emolive.voice.channel import VoiceChannel

    channel = VoiceChannel(model_dir, threads=1)
    window = audio[: channel.window_samples]
    for _ in range(10):
        channel.process(window, 0.0)
    total, model = [], []
    for _ in range(n):
        total.append(channel.process(window, 0.0).latency_ms)
        started = time.perf_counter()
        channel._backend.window(window, channel.temperature)
        model.append((time.perf_counter() - started) * 1000.0)
    return {"process_median_ms": float(np.median(total)), "process_p90_ms": float(np.percentile(total, 90)),
            "model_median_ms": float(np.median(model))}


def _base_channel(model_dir: Path | None) -> object:
    """The shipped channel with the Whisper base encoder swapped in and random heads of the base width."""
    from emolive.voice.channel import VoiceChannel
    from emolive.voice.heads import head_input
    from emolive.voice.norm import RunningNorm
    from training.voice_embed import new_embedder

    channel = VoiceChannel(model_dir, threads=1)
    backend = channel._backend
    backend._embedder = new_embedder("whisper-base", threads=1)
    width = 512 + backend.head.prosody_dim
    rng = np.random.default_rng(0)
    w_emotion, w_arousal = rng.normal(size=(7, width)).astype(np.float32), rng.normal(size=(1, width))

    class Heads:
        norm, prosody_dim = backend.head.norm, backend.head.prosody_dim

        def prepare(self, embedding: np.ndarray, prosody: np.ndarray | None = None) -> np.ndarray:
            return head_input(embedding, prosody, self.norm, self.prosody_dim)

        def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return x @ w_emotion.T, np.clip((x @ w_arousal.T)[..., 0], 0.0, 1.0)

    backend.head = Heads()
    if backend.norm is not None:
        backend.norm = RunningNorm(np.zeros(width), np.ones(width), backend.norm.settings)
    return channel


def compare_base(model_dir: Path | None, n: int, windows: list[np.ndarray]) -> dict[str, float]:
    """Voice stage and encoder alone, shipped (tiny.en) vs base, in interleaved rounds over ``windows``."""
    from emolive.voice.channel import VoiceChannel

    channels = {"tiny.en": VoiceChannel(model_dir, threads=1), "base": _base_channel(model_dir)}
    for channel in channels.values():
        for window in windows:
            if not channel.process(window, 0.0).present:
                raise SystemExit("a window without speech would skip the encoder: give clips with speech")
    stage: dict[str, list[float]] = {k: [] for k in channels}
    encoder: dict[str, list[float]] = {k: [] for k in channels}
    for _ in range(n):
        for name, channel in channels.items():
            for window in windows:
                stage[name].append(channel.process(window, 0.0).latency_ms)
                started = time.perf_counter()
                channel._backend._embedder.embed(window)
                encoder[name].append((time.perf_counter() - started) * 1000.0)
    out = {}
    for name in channels:
        out[f"{name}_stage_median_ms"] = float(np.median(stage[name]))
        out[f"{name}_stage_p90_ms"] = float(np.percentile(stage[name], 90))
        out[f"{name}_encoder_median_ms"] = float(np.median(encoder[name]))
    out["stage_ratio"] = out["base_stage_median_ms"] / out["tiny.en_stage_median_ms"]
    out["encoder_ratio"] = out["base_encoder_median_ms"] / out["tiny.en_encoder_median_ms"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.voice_bench", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/voice)")
    parser.add_argument("--audio", type=Path, required=True, nargs="+", help="speech clips of at least 2 s")
    parser.add_argument("--n", type=int, default=200, help="windows timed (with --vs-base: rounds over the clips)")
    parser.add_argument("--vs-base", action="store_true", help="shipped vs the multilingual Whisper base encoder")
    args = parser.parse_args(argv)
    from emolive.core.audio_io import load_audio

    audio = [load_audio(path) for path in args.audio]
    if args.vs_base:
        middle = [a[max(0, (len(a) - 32_000) // 2):][:32_000] for a in audio]  # the clip's middle 2 s
        result = compare_base(args.model, args.n, middle)
    else:
        result = measure(args.model, args.n, audio[0])
    print("  ".join(f"{k} {v:.2f}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
