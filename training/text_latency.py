"""Uncached text-channel latency of two or more model folders, measured in the same run:
`python -m training.text_latency --model OLD --model NEW --data CSV [--n 300]`.

Each sentence is new to every model (no cache hits); the models take turns on each sentence, in an order that
alternates, so machine load falls on all of them alike. Prints p50/p95/mean milliseconds of
``TextChannel.process`` per model and each model's p50 as a ratio to the first one's.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_texts(path: Path, n: int) -> list[str]:
    """Up to ``n`` distinct texts from a CSV's ``text`` (EmoBank) or ``Utterance`` (MELD) column."""
    with Path(path).open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        column = "text" if "text" in (reader.fieldnames or []) else "Utterance"
        seen: dict[str, None] = {}
        for row in reader:
            text = (row.get(column) or "").strip()
            if text:
                seen.setdefault(text, None)
            if len(seen) >= n:
                break
    return list(seen)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.text_latency", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, action="append", required=True, help="text model folder (repeat)")
    p.add_argument("--data", type=Path, required=True, help="CSV with a text or Utterance column")
    p.add_argument("--n", type=int, default=300, help="sentences to time")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    from emolive.text.channel import TextChannel

    channels = [TextChannel(m, threads=args.threads) for m in args.model]
    texts = read_texts(args.data, args.n + 5)
    warm, texts = texts[:5], texts[5:]
    for channel in channels:
        for text in warm:
            channel.process(text, 0.0)
    times: list[list[float]] = [[] for _ in channels]
    for i, text in enumerate(texts):
        order = range(len(channels)) if i % 2 == 0 else reversed(range(len(channels)))
        for k in order:
            started = time.perf_counter()
            channels[k].process(text, 0.0)
            times[k].append((time.perf_counter() - started) * 1000.0)
    results = []
    for model, channel, ms in zip(args.model, channels, times, strict=True):
        arr = np.array(ms)
        results.append({"model": str(model), "va": channel.has_va, "n": int(arr.size),
                        "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
                        "mean_ms": float(arr.mean())})
    for r in results:
        r["p50_ratio"] = r["p50_ms"] / results[0]["p50_ms"]
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(f"{r['model']}: V/A {'yes' if r['va'] else 'no '}  n {r['n']}  p50 {r['p50_ms']:.1f} ms  "
                  f"p95 {r['p95_ms']:.1f} ms  mean {r['mean_ms']:.1f} ms  p50 x{r['p50_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
