"""Score a labelled audio-visual clip: fused output and each channel alone, per segment.

    emolive eval clip VIDEO --labels LABELS.csv [--json]
    emolive eval clip A.mp4 B.mp4 --labels A.csv --labels B.csv     # pooled over both clips' segments

Runs the same analysis as `emolive analyze` (same pipeline, file clock) and takes, in each labelled segment
(``start,end,emotion`` rows; see ``python -m training.render_clips``), the majority of the fused ``dominant``
and of each channel's own top class over the steps from 0.5 s after its start to 0.3 s before its end.
A segment where a channel never spoke, or where the fused majority is "uncertain", counts as wrong.
``disagreement_accuracy`` is the fused accuracy on the segments where the channels that spoke did not all
give the same majority class. Each accuracy comes with its 95% Wilson interval (``accuracy_ci95``), and
``fused_gain`` is fused minus the best single channel with a paired bootstrap interval over the segments: on
one clip of about 50 segments either moves by 0.1 or more with the draw of faces and recordings.
``--save-steps`` keeps every step's channel outputs (JSON lines) and ``--from-steps`` re-fuses such a file
with the current fuser in seconds, without re-running the models. With several clips (each with its own
``--labels``, and ``--save-steps`` or ``--from-steps``, in the same order) the report is over all their
segments pooled, and ``clips`` holds each clip's own report.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolive.config import load_config
from emolive.core.contracts import ModalityOutput
from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, canonical_emotion

log = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("face", "voice", "text")
SKIP_START_S = 0.5
SKIP_END_S = 0.3
NONE = "none"  # no prediction (channel silent, or fused "uncertain"): always wrong


@dataclass(frozen=True)
class LabelledSegment:
    start: float
    end: float
    emotion: str


@dataclass(frozen=True)
class Step:
    """What one analysis step said: the fused class and each channel's own top class (None when silent)."""

    t: float
    fused: str
    channels: dict[str, str | None]


def read_labels(path: Path) -> list[LabelledSegment]:
    """``start,end,emotion`` rows (more columns are ignored); emotions go through the alias table."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise EmoliveError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmoliveError(f"cannot read labels {path}: {exc}") from exc
    segments = []
    for number, row in enumerate(rows, start=2):
        try:
            start, end = float(row["start"]), float(row["end"])
            emotion = canonical_emotion(row["emotion"] or "")
        except (KeyError, TypeError, ValueError):
            raise EmoliveError(f"{path}:{number}: expected columns start,end,emotion with numbers") from None
        if emotion is None or end <= start:
            raise EmoliveError(f"{path}:{number}: unknown emotion {row.get('emotion')!r} or end before start")
        segments.append(LabelledSegment(start, end, emotion))
    if not segments:
        raise EmoliveError(f"{path} has no labelled segments")
    return segments


def _majority(values: Iterable[str | None]) -> str:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return NONE
    return max(sorted(counts), key=lambda k: counts[k])


def segment_predictions(steps: Sequence[Step], segments: Sequence[LabelledSegment]) -> list[dict[str, str]]:
    """Per segment: the majority class of ``fused`` and of each channel inside its scored window."""
    out = []
    for seg in segments:
        inside = [s for s in steps if seg.start + SKIP_START_S <= s.t <= seg.end - SKIP_END_S]
        row = {"fused": _majority(s.fused if s.fused in EMOTIONS else None for s in inside)}
        for channel in CHANNELS:
            row[channel] = _majority(s.channels.get(channel) for s in inside)
        out.append(row)
    return out


def covered(steps: Sequence[Step], segments: Sequence[LabelledSegment]
            ) -> tuple[list[LabelledSegment], list[LabelledSegment]]:
    """(segments with at least one step in their scored window, segments without: outside the clip or too short)."""
    inside, outside = [], []
    for seg in segments:
        hit = any(seg.start + SKIP_START_S <= s.t <= seg.end - SKIP_END_S for s in steps)
        (inside if hit else outside).append(seg)
    return inside, outside


def score(steps: Sequence[Step], segments: Sequence[LabelledSegment]) -> dict[str, Any]:
    """The report: ``segments``, ``fused``/``face``/``voice``/``text`` (accuracy, macro_f1), disagreement."""
    return _report(segment_predictions(steps, segments), segments)


def score_clips(clips: Sequence[tuple[Sequence[Step], Sequence[LabelledSegment]]]) -> dict[str, Any]:
    """One report over the segments of all ``(steps, segments)`` clips; with more than one, ``clips`` per clip."""
    per_clip = [(segment_predictions(steps, segments), segments) for steps, segments in clips]
    report = _report([p for ps, _ in per_clip for p in ps], [s for _, ss in per_clip for s in ss])
    if len(per_clip) > 1:
        report["clips"] = [_report(ps, ss) for ps, ss in per_clip]
    return report


def _report(predictions: Sequence[dict[str, str]], segments: Sequence[LabelledSegment]) -> dict[str, Any]:
    from emolive.evaluation.metrics import classification_report, paired_difference_interval, proportion_interval

    labels = [*EMOTIONS, NONE]
    truth = [labels.index(s.emotion) for s in segments]
    report: dict[str, Any] = {"segments": len(segments)}
    right: dict[str, list[bool]] = {}
    for name in ("fused", *CHANNELS):
        right[name] = [p[name] == s.emotion for p, s in zip(predictions, segments, strict=True)]
        r = classification_report(truth, [labels.index(p[name]) for p in predictions], labels)
        low, high = proportion_interval(sum(right[name]), len(segments))
        report[name] = {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4),
                        "accuracy_ci95": [round(low, 4), round(high, 4)]}
    best = max(CHANNELS, key=lambda c: (report[c]["accuracy"], -CHANNELS.index(c)))
    low, high = paired_difference_interval(right["fused"], right[best])
    report["fused_gain"] = {"over": best,
                            "accuracy": round(report["fused"]["accuracy"] - report[best]["accuracy"], 4),
                            "ci95": [round(low, 4), round(high, 4)]}
    disagree = [i for i, p in enumerate(predictions) if len({p[c] for c in CHANNELS if p[c] != NONE}) > 1]
    fused_right = sum(right["fused"][i] for i in disagree)
    report["disagreement_segments"] = len(disagree)
    report["disagreement_accuracy"] = round(fused_right / len(disagree), 4) if disagree else None
    report["fused_uncertain_or_none"] = sum(p["fused"] == NONE for p in predictions)
    return report


# --- steps: from an analysis, to and from JSON lines, re-fused ------------------------------------------------
def _output_record(out) -> dict[str, Any] | None:
    if out is None:
        return None
    return {"t": out.t, "present": out.present, "quality": out.quality, "reason": out.reason,
            "emotion": list(out.emotion) if out.emotion is not None else None,
            "sentiment": list(out.sentiment) if out.sentiment is not None else None,
            "valence": out.valence, "arousal": out.arousal,
            "prior": list(out.prior) if out.prior is not None else None}


def step_record(estimate) -> dict[str, Any]:
    """One estimate as a JSON-able record: fused class and every channel's latest output."""
    return {"t": estimate.t, "dominant": estimate.dominant, "agreement": estimate.agreement,
            "outputs": {m: _output_record(estimate.modality(m)) for m in CHANNELS}}


def _top(out: dict[str, Any] | None) -> str | None:
    if out is None or not out.get("present") or out.get("emotion") is None:
        return None
    emotion = out["emotion"]
    return EMOTIONS[max(range(len(emotion)), key=emotion.__getitem__)]


def steps_from_records(records: Sequence[dict[str, Any]], fuser=None) -> list[Step]:
    """Steps of saved records; with ``fuser`` the channel outputs are fused again (a fusion change, no models)."""
    steps = []
    for rec in records:
        outputs = rec["outputs"]
        fused = rec["dominant"]
        if fuser is not None:
            live = {m: ModalityOutput(m, o["t"], o["present"], tuple(o["emotion"]) if o["emotion"] else None,
                                      tuple(o["sentiment"]) if o["sentiment"] else None, o.get("valence"),
                                      o.get("arousal"), o["quality"], reason=o.get("reason", ""),
                                      prior=tuple(o["prior"]) if o.get("prior") else None)
                    if o is not None else None for m, o in outputs.items()}
            fused = fuser.fuse(live, rec["t"]).dominant
        steps.append(Step(rec["t"], fused, {m: _top(outputs.get(m)) for m in CHANNELS}))
    return steps


def read_records(path: Path) -> list[dict[str, Any]]:
    try:
        with Path(path).open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        raise EmoliveError(f"steps file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise EmoliveError(f"cannot read steps {path}: {exc}") from exc


def analyse(video: Path, config_path: str | None, overrides: list[str], asr: bool) -> list[dict[str, Any]]:
    """Run `emolive analyze`'s pipeline on ``video``; every step's record."""
    from emolive.offline.analysis import analyze_file

    if not Path(video).is_file():
        raise EmoliveError(f"file not found: {video}")
    records: list[dict[str, Any]] = []
    analyze_file(video, load_config(config_path, overrides), asr=asr,
                 on_estimate=lambda e: records.append(step_record(e)))
    return records


# --- command ---------------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, nargs="*", help="the clip(s) (video with audio)")
    parser.add_argument("--labels", type=Path, action="append", required=True,
                        help="CSV with start,end,emotion rows; once per clip, in the clips' order")
    parser.add_argument("--no-asr", action="store_true", help="skip transcription (no text channel)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set inference.voice_model=/tmp/voice_fold")
    parser.add_argument("--save-steps", type=Path, action="append",
                        help="write every step's channel outputs (JSON lines); once per clip")
    parser.add_argument("--from-steps", type=Path, action="append",
                        help="score saved steps instead of analysing VIDEO, re-fused with the configured fuser; "
                             "once per clip")


def _sources(args: argparse.Namespace) -> list[Path]:
    """The clips' videos or saved steps, checked against the labels and ``--save-steps`` counts."""
    if args.video and args.from_steps:
        raise EmoliveError("give VIDEO files or --from-steps files, not both")
    sources = list(args.from_steps or args.video)
    if not sources:
        raise EmoliveError("give the VIDEO to analyse, or --from-steps FILE")
    if len(args.labels) != len(sources):
        raise EmoliveError(f"{len(sources)} clip(s) but {len(args.labels)} --labels: give one per clip, in order")
    if args.save_steps and (args.from_steps or len(args.save_steps) != len(sources)):
        raise EmoliveError("--save-steps goes with VIDEO files, once per clip")
    return sources


def _save(path: Path, records: Sequence[dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for rec in records:
                handle.write(json.dumps(rec) + "\n")
    except OSError as exc:
        raise EmoliveError(f"cannot write steps {path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    sources = _sources(args)
    fuser = None
    if args.from_steps:
        from emolive.fusion.fuser import fuser_for

        fuser = fuser_for(load_config(args.config, args.set).inference)
    clips = []
    for number, (source, labels) in enumerate(zip(sources, args.labels, strict=True)):
        segments = read_labels(labels)
        if args.from_steps:
            records = read_records(source)
        else:
            records = analyse(source, args.config, args.set, not args.no_asr)
            if args.save_steps:
                _save(args.save_steps[number], records)
        steps = steps_from_records(records, fuser)
        inside, outside = covered(steps, segments)
        if outside:
            span = f"{steps[0].t:.1f}-{steps[-1].t:.1f} s" if steps else "no steps"
            listed = ", ".join(f"{s.start:g}-{s.end:g}" for s in outside[:5]) + (" ..." if len(outside) > 5 else "")
            print(f"eval clip: warning: {labels}: {len(outside)} of {len(segments)} label segment(s) have no step in "
                  f"their scored window (outside the clip's {span}, or shorter than {SKIP_START_S + SKIP_END_S:g} s) "
                  f"and are not scored: {listed}", file=sys.stderr)
        if not inside:
            raise EmoliveError(f"{labels}: no label segment lies within the clip {source}; nothing to score")
        clips.append((steps, inside))
    report = score_clips(clips)
    if args.json:
        print(json.dumps(report))
        return 0
    for source, one in zip(sources, report.get("clips", ()), strict=False):
        gain = one["fused_gain"]
        print(f"{source}: {one['segments']} segments, fused {one['fused']['accuracy']:.4f}, "
              f"best single channel {gain['over']} {one[gain['over']]['accuracy']:.4f} ({gain['accuracy']:+.4f})")
    pooled = f" pooled over {len(clips)} clips" if len(clips) > 1 else ""
    print(f"{report['segments']} segments{pooled} (majority per segment, first {SKIP_START_S} s and last "
          f"{SKIP_END_S} s skipped)")
    print(f"{'':<8}{'accuracy':>10}{'95% interval':>16}{'macro F1':>10}")
    for name in ("fused", *CHANNELS):
        low, high = report[name]["accuracy_ci95"]
        print(f"{name:<8}{report[name]['accuracy']:>10.4f}{f'{low:.2f}-{high:.2f}':>16}{report[name]['macro_f1']:>10.4f}")
    gain = report["fused_gain"]
    print(f"fused - best single channel ({gain['over']}): {gain['accuracy']:+.4f} accuracy "
          f"(95% interval {gain['ci95'][0]:+.2f} to {gain['ci95'][1]:+.2f}, paired bootstrap over the segments)")
    da = report["disagreement_accuracy"]
    print(f"where the channels disagree ({report['disagreement_segments']} segments): fused accuracy "
          + (f"{da:.4f}" if da is not None else "n/a"))
    return 0
