"""List recorded sessions with their start, duration, size and what was captured."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, help="sessions folder (default: recording.directory from the config, "
                                                   "else the user's data folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{sec:02d}"


def run(args: argparse.Namespace) -> int:
    from emolive.config import load_config
    from emolive.recording.files import RecordingError
    from emolive.recording.listing import list_sessions
    from emolive.recording.session import default_sessions_root

    root = args.root
    if root is None:
        configured = load_config(getattr(args, "config", None)).recording.directory
        root = Path(configured) if configured else default_sessions_root()
    elif not root.exists():
        raise RecordingError(f"sessions folder not found: {root}")
    sessions = list_sessions(root)
    if args.json:
        print(json.dumps({"root": str(root), "sessions": [s.as_json() for s in sessions]}, indent=2))
        return 0
    if not sessions:
        print(f"no recorded sessions in {root}")
        return 0
    print(f"{'session':<20} {'started (UTC)':<20} {'duration':>9} {'size':>9} {'rows':>7} {'markers':>7}  "
          f"{'source':<18} raw    state")
    for s in sessions:
        raw = "+".join(k for k, on in (("audio", s.raw_audio), ("video", s.raw_video)) if on) or "-"
        state = "ok" if s.complete else ("error: " + s.error if s.error else "incomplete (running or killed)")
        started = (s.started_utc or "-")[:19].replace("T", " ")
        rows = "-" if s.rows is None else str(s.rows)
        markers = "-" if s.markers is None else str(s.markers)
        print(f"{s.name:<20} {started:<20} {_duration(s.duration_s):>9} {_size(s.size_bytes):>9} {rows:>7} "
              f"{markers:>7}  {(s.source or '-')[:18]:<18} {raw:<6} {state}")
    print(f"{len(sessions)} session(s) in {root}")
    return 0
