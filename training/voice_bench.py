"""Per-window latency of the voice channel: `python -m training.voice_bench [--model DIR] [--n 200]`.

Times ``VoiceChannel.process`` (VAD + features + model) on a 2 s speech window on one thread and prints
the median and 90th percentile, plus the model alone (features + network, no VAD).
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.voice_bench", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/voice)")
    parser.add_argument("--audio", type=Path, required=True, help="a speech clip of at least 2 s")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args(argv)
    from emolive.core.audio_io import load_audio

    result = measure(args.model, args.n, load_audio(args.audio))
    print("  ".join(f"{k} {v:.2f}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
