"""Evaluate live transcription: replay each file of a `path,text` manifest through the streaming transcriber.

Each file is fed in small blocks on a simulated session clock, exactly as the live thread sees microphone
audio (VAD, partial decodes every --interval seconds, commit policy), followed by --tail seconds of silence.
Prints word error rate (case and punctuation ignored), real-time factor (compute / audio seconds) and the lag
from the end of speech in each file (Silero VAD) to its last committed text, p50/p95. --offline adds one
ordinary faster-whisper pass per file for comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

from emolive.asr.builder import build_stream
from emolive.asr.models import shared_whisper
from emolive.asr.replay import replay
from emolive.asr.streaming import VAD_CHUNK, StreamConfig
from emolive.asr.vad import SpeechDetector
from emolive.asr.wer import word_errors
from emolive.config import AsrConfig
from emolive.core.audio_io import load_audio
from emolive.core.errors import EmoliveError, MediaError
from emolive.models.device import limit_native_threads

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="CSV with columns path,text (paths relative to it)")
    parser.add_argument("--model", default="tiny.en", help="tiny.en (default), base, a CTranslate2 folder, "
                        "or hub:NAME to download")
    parser.add_argument("--language", default=None, help="language code for a multilingual model")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for CTranslate2 (default 1)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between partial decodes")
    parser.add_argument("--tail", type=float, default=1.0, help="seconds of silence after each file")
    parser.add_argument("--limit", type=int, default=0, help="only the first N rows (0: all)")
    parser.add_argument("--offline", action="store_true", help="also run one offline pass per file")
    parser.add_argument("--analyze", action="store_true",
                        help="score emolive analyze's transcription instead: the files joined in order (--tail s of "
                        "silence after each) into recordings of at most --join-s s, decoded once per utterance, "
                        "utterances packed up to --pack-s s of audio per Whisper pass")
    parser.add_argument("--join-s", type=float, default=120.0, help="with --analyze: longest joined recording (s)")
    parser.add_argument("--pack-s", type=float, default=None,
                        help="with --analyze: audio per packed Whisper pass (s; 0: each utterance alone; default: "
                        "the asr.offline_pack_s default)")
    parser.add_argument("--min-pass-s", type=float, default=AsrConfig.min_pass_s,
                        help="shortest Whisper encoder pass (s; 30: Whisper's full window every pass; default: the "
                        "asr.min_pass_s default)")


def read_manifest(path: str | Path) -> list[tuple[Path, str]]:
    """Rows of (absolute audio path, reference text); raise EmoliveError on a missing or malformed CSV."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"manifest not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"path", "text"} - set(reader.fieldnames or ())
            if missing:
                raise EmoliveError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need path,text)")
            rows = [(path.parent / r["path"], r["text"] or "") for r in reader if (r.get("path") or "").strip()]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmoliveError(f"cannot read manifest {path}: {exc}") from exc
    if not rows:
        raise EmoliveError(f"manifest {path} has no rows")
    return rows


def run(args: argparse.Namespace) -> int:
    import numpy as np

    rows = read_manifest(args.manifest)
    if args.limit > 0:
        rows = rows[: args.limit]
    model = shared_whisper(args.model, threads=args.threads)  # the one the streams below decode with
    limit_native_threads(args.threads)  # as in the live pipeline, so RTF and lag are what live use sees
    if args.analyze:
        from emolive.evaluation.asr_joined import format_joined, run_joined

        report = run_joined(args, rows)
        print(json.dumps(report) if args.json else format_joined(report))
        return 0
    detector = SpeechDetector()
    config = StreamConfig(interval_s=args.interval)
    edits = words = off_edits = 0
    compute = off_compute = audio_s = 0.0
    lags: list[float] = []
    first: list[float] = []
    skipped: dict[str, int] = {}
    worst: list[tuple[float, str, str, str]] = []
    for path, reference in rows:
        try:
            audio = load_audio(path)
        except MediaError as exc:
            log.warning("%s", exc)
            skipped["unreadable"] = skipped.get("unreadable", 0) + 1
            continue
        speech = np.flatnonzero(detector.probabilities(audio) >= detector.threshold)
        stream = build_stream(args.model, config, language=args.language, threads=args.threads,  # as live
                              min_pass_s=args.min_pass_s)
        result = replay(stream, audio, tail_s=args.tail)
        e, n = word_errors(reference, result.text)
        edits, words, compute, audio_s = edits + e, words + n, compute + result.compute_s, audio_s + result.audio_s
        worst.append((e / max(n, 1), str(path), reference, result.text))
        if speech.size and result.segments:
            start, end = speech[0] * VAD_CHUNK / 16_000, (speech[-1] + 1) * VAD_CHUNK / 16_000
            first.append(result.segments[0].t_emitted - start)
            if result.committed:
                lags.append(result.committed[-1].t_emitted - end)
        if args.offline:
            t = time.perf_counter()
            segments, _ = model.transcribe(audio, language=stream.decoder.last_language, beam_size=1, vad_filter=True)
            text = " ".join(s.text.strip() for s in segments)
            off_compute += time.perf_counter() - t
            off_edits += word_errors(reference, text)[0]
            log.info("%s | ref %r | stream %r | offline %r", path.name, reference, result.text, text)
        else:
            log.info("%s | ref %r | stream %r", path.name, reference, result.text)
    n_files = len(rows) - sum(skipped.values())
    report: dict[str, Any] = {
        "n": n_files,
        "skipped": skipped,
        "model": args.model,
        "min_pass_s": args.min_pass_s,
        "audio_s": round(audio_s, 2),
        "wer": edits / words if words else 0.0,
        "rtf": compute / audio_s if audio_s else 0.0,
        "commit_lag_s": _percentiles(lags),
        "first_text_s": _percentiles(first),
        "uncommitted": n_files - len(lags),
    }
    if args.offline:
        report["offline_wer"] = off_edits / words if words else 0.0
        report["offline_rtf"] = off_compute / audio_s if audio_s else 0.0
    if args.json:
        print(json.dumps(report))
    else:
        print(_format(report, sorted(worst, reverse=True)[:5]))
    return 0


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {"p50": 0.0, "p95": 0.0, "n": 0}
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)), "n": len(values)}


def _format(report: dict[str, Any], worst: list[tuple[float, str, str, str]]) -> str:
    lag, first = report["commit_lag_s"], report["first_text_s"]
    lines = [
        f"files: {report['n']}   skipped: {report['skipped'] or 'none'}   audio: {report['audio_s']:.1f} s   "
        f"model: {report['model']}",
        f"WER {report['wer']:.4f}   RTF {report['rtf']:.3f}",
        f"commit lag (end of speech -> committed text): p50 {lag['p50']:.2f} s   p95 {lag['p95']:.2f} s   "
        f"(files without committed text: {report['uncommitted']})",
        f"first text after speech start: p50 {first['p50']:.2f} s   p95 {first['p95']:.2f} s",
    ]
    if "offline_wer" in report:
        lines.append(f"offline single pass: WER {report['offline_wer']:.4f}   RTF {report['offline_rtf']:.3f}")
    if worst and worst[0][0] > 0:
        lines.append("highest-error files:")
        lines += [f"  {err:.2f} {Path(p).name}: ref {ref!r} -> {hyp!r}" for err, p, ref, hyp in worst if err > 0]
    return "\n".join(lines)
