"""Re-analyse a recorded session's raw capture (audio.wav / video.mp4) with the current models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=Path, metavar="SESSION_DIR", help="a folder made by Session > Record")
    parser.add_argument("-o", "--output", type=Path, help="CSV to write (default: SESSION_DIR/replay.csv, "
                                                          "replay-N.csv when taken)")
    parser.add_argument("--no-asr", action="store_true", help="do not transcribe (the text channel stays silent)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. inference.fusion=late (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from emolive.config import load_config
    from emolive.core.errors import EmoliveError
    from emolive.recording.replay import replay_session

    config = load_config(getattr(args, "config", None), args.set)
    try:
        from emolive.offline.analysis import analyze_file
    except ImportError as exc:
        raise EmoliveError(f"offline analysis is not available in this build ({exc})") from exc

    def analyze(media: Path, on_estimate) -> None:
        analyze_file(media, config, asr=not args.no_asr, on_estimate=on_estimate)

    summary = replay_session(args.session, analyze, args.output)
    if args.json:
        print(json.dumps(summary.as_json(), indent=2))
        return 0
    agreement = summary.agreement
    print(f"wrote {summary.rows} estimates and {summary.markers} markers to {summary.output}")
    if agreement["matched"]:
        print(f"compared with the recording at {agreement['matched']} steps: dominant class agrees "
              f"{agreement['dominant_agreement']:.1%}, mean |diff| of emotion probabilities "
              f"{agreement['mean_abs_diff']:.4f} (max {agreement['max_abs_diff']:.4f})")
    if summary.note:
        print(f"note: {summary.note}")
    return 0
