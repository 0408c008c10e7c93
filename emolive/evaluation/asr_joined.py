"""``emolive eval asr --analyze``: the transcription of ``emolive analyze`` scored on long recordings.

The manifest's files are joined in order, with ``--tail`` seconds of silence between them, into recordings of at
most ``--join-s`` seconds; each is replayed through analyze's transcription policy (the file's clock, one decode
per utterance, utterances packed into one Whisper pass up to ``--pack-s`` seconds of audio). The word error rate
is over the joined references; the CPU figure is the process's CPU time spent in the replays.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from emolive.asr.builder import build_stream
from emolive.asr.replay import replay
from emolive.asr.wer import word_errors
from emolive.config import AsrConfig
from emolive.core.audio_io import load_audio
from emolive.core.errors import MediaError
from emolive.offline.analysis import offline_stream_config

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000


def joined(rows: list[tuple[Path, str]], join_s: float, gap_s: float) -> tuple[list[tuple[np.ndarray, str]], int]:
    """The manifest's audio joined into recordings of at most ``join_s`` seconds (a longer file stands alone),
    ``gap_s`` of silence after each file; (recordings with their joined references, files unreadable)."""
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    out: list[tuple[np.ndarray, str]] = []
    parts: list[np.ndarray] = []
    texts: list[str] = []
    unreadable = 0
    for path, reference in rows:
        try:
            audio = np.concatenate([load_audio(path), gap])
        except MediaError as exc:
            log.warning("%s", exc)
            unreadable += 1
            continue
        if parts and sum(p.size for p in parts) + audio.size > join_s * SAMPLE_RATE:
            out.append((np.concatenate(parts), " ".join(texts)))
            parts, texts = [], []
        parts.append(audio)
        texts.append(reference)
    if parts:
        out.append((np.concatenate(parts), " ".join(texts)))
    return out, unreadable


def run_joined(args: argparse.Namespace, rows: list[tuple[Path, str]]) -> dict[str, Any]:
    """Score analyze's transcription on the joined recordings (see the module); the report."""
    pack_s = AsrConfig.offline_pack_s if args.pack_s is None else args.pack_s
    config = offline_stream_config(AsrConfig(interval_s=args.interval, offline_pack_s=pack_s))
    recordings, unreadable = joined(rows, args.join_s, args.tail)
    edits = words = 0
    cpu = audio_s = 0.0
    for audio, reference in recordings:
        stream = build_stream(args.model, config, language=args.language, threads=args.threads,
                              min_pass_s=args.min_pass_s)
        started = time.process_time()
        result = replay(stream, audio, tail_s=args.tail)
        cpu += time.process_time() - started
        e, n = word_errors(reference, result.text)
        edits, words, audio_s = edits + e, words + n, audio_s + audio.size / SAMPLE_RATE
        log.info("%.1f s: %d edits of %d words | %r", audio.size / SAMPLE_RATE, e, n, result.text)
    return {"n": len(rows) - unreadable, "skipped": {"unreadable": unreadable} if unreadable else {},
            "model": args.model, "recordings": len(recordings), "audio_s": round(audio_s, 2), "pack_s": pack_s,
            "min_pass_s": args.min_pass_s,
            "wer": edits / words if words else 0.0, "edits": edits, "words": words,
            "cpu_per_audio_s": cpu / audio_s if audio_s else 0.0}


def format_joined(report: dict[str, Any]) -> str:
    return (f"files: {report['n']} joined into {report['recordings']} recordings, {report['audio_s']:.1f} s   "
            f"model: {report['model']}   pack_s: {report['pack_s']}\n"
            f"WER {report['wer']:.4f} ({report['edits']} edits / {report['words']} words)   "
            f"CPU {report['cpu_per_audio_s']:.3f} s per audio s")
