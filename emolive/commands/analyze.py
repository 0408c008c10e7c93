"""Analyse video or audio files offline with the live pipeline and write one CSV row per step."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="video or audio files")
    parser.add_argument("-o", "--output", type=Path,
                        help="CSV path (one input) or folder (several); default: FILE.emolive.csv next to each")
    parser.add_argument("--no-asr", action="store_true", help="skip transcription (no text channel)")
    parser.add_argument("--summary", action="store_true",
                        help="print per-emotion time share and mean valence/arousal")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON lines")
    parser.add_argument("--workers", type=int, default=1, help="files analysed in parallel (processes)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set inference.hop_s=0.2")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _outputs(files: list[Path], output: Path | None) -> list[Path]:
    from emolive.errors import EmoliveError

    if output is None:
        return [f.with_name(f.name + ".emolive.csv") for f in files]
    if len(files) == 1 and output.suffix.lower() == ".csv":
        return [output]
    if output.exists() and not output.is_dir():
        raise EmoliveError(f"{output} must be a folder when analysing several files")
    return [output / (f.name + ".emolive.csv") for f in files]


def _drop_partial_row(path: Path) -> None:
    """Cut ``path`` back to its last whole line (a full disk can stop a write mid-row)."""
    import contextlib
    import os

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


def analyze_one(path: Path, out: Path, overrides: list[str], config_path: str | None, asr: bool,
                show_progress: bool) -> dict:
    """Analyse one file into ``out``; returns its summary (runs in a worker process too)."""
    from tqdm import tqdm

    from emolive.analysis import analyze_file
    from emolive.config import load_config
    from emolive.errors import EmoliveError, plain_reason
    from emolive.recording import schema

    config = load_config(config_path, overrides)
    bar = tqdm(total=1000, desc=path.name, unit="‰", disable=not show_progress, leave=False, file=sys.stderr)

    def progress(fraction: float) -> None:
        bar.update(int(fraction * 1000) - bar.n)

    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(schema.header())
            summary = analyze_file(path, config, asr=asr, progress=progress,
                                   on_estimate=lambda estimate: writer.writerow(schema.row(estimate)))
    except OSError as exc:
        _drop_partial_row(partial)
        raise EmoliveError(f"cannot write {out}: {plain_reason(exc)}") from exc
    finally:
        bar.close()
    partial.replace(out)  # a failed run leaves OUT.partial with the rows written so far
    return {**summary.as_dict(), "csv": str(out)}


def run(args: argparse.Namespace) -> int:
    from emolive.config import load_config
    from emolive.errors import EmoliveError, not_a_file

    load_config(args.config, args.set)  # a malformed config or override fails before any work
    for f in args.files:
        if not f.is_file():
            raise EmoliveError(not_a_file(f))
    outs = _outputs(args.files, args.output)
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(f, o, args.set, args.config, not args.no_asr, not args.no_progress)
            for f, o in zip(args.files, outs, strict=True)]
    failures = 0
    results = []
    if args.workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(analyze_one, *job[:5], False) for job in jobs]
            for job, future in zip(jobs, futures, strict=True):
                try:
                    results.append(future.result())
                except EmoliveError as exc:
                    print(f"emolive: error: {job[0]}: {exc}", file=sys.stderr)
                    failures += 1
    else:
        for job in jobs:
            try:
                results.append(analyze_one(*job))
            except EmoliveError as exc:
                if len(jobs) == 1:
                    raise
                print(f"emolive: error: {job[0]}: {exc}", file=sys.stderr)
                failures += 1
    for result in results:
        if args.json:
            print(json.dumps(result))
            continue
        print(f"{result['path']}: {result['steps']} steps, {result['media_s']:.1f} s of media in "
              f"{result['wall_s']:.1f} s ({result['speed_x_realtime']:.2f}x real time; models loaded in "
              f"{result['load_s']:.1f} s) -> {result['csv']}")
        if args.summary:
            shares = sorted(result["time_share"].items(), key=lambda kv: -kv[1])
            print("  time share: " + ", ".join(f"{k} {v:.0%}" for k, v in shares if v > 0))
            print(f"  mean valence {result['mean_valence']:.3f}, mean arousal {result['mean_arousal']:.3f}")
            if result["transcript"]:
                import textwrap

                print(textwrap.fill(result["transcript"], width=100, initial_indent="  transcript: ",
                                    subsequent_indent="    ", break_long_words=False))
    return 1 if failures else 0
