"""Split a RAVDESS tree by actor into two trees of symbolic links (no audio is copied).

    python -m training.ravdess_split ../shared/data/ravdess /tmp/rav --held 17-20

writes ``/tmp/rav/fit/Actor_NN/...`` (the other actors) and ``/tmp/rav/heldout/Actor_NN/...``, so a voice model
can be trained without some speakers and those speakers used as an unseen pool (e.g. by ``emolive eval fusion``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from emolive.voice.data import parse_ravdess_name


def parse_actors(text: str) -> set[int]:
    """'17-20' or '1,3,5' or '2-4,9' -> actor numbers."""
    actors: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        actors.update(range(int(low), int(high or low) + 1))
    return actors


def split(source: Path, out: Path, held: set[int]) -> tuple[int, int]:
    """Link every RAVDESS-named file under ``source`` into ``out/fit`` or ``out/heldout``; returns the counts."""
    counts = {"fit": 0, "heldout": 0}
    for path in sorted(source.rglob("*")):
        name = parse_ravdess_name(path.name) if path.is_file() else None
        if name is None:
            continue
        side = "heldout" if name.actor in held else "fit"
        target = out / side / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(path.resolve())
        counts[side] += 1
    return counts["fit"], counts["heldout"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ravdess_split", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="RAVDESS tree (file names carry the labels)")
    p.add_argument("out", type=Path, help="folder that receives fit/ and heldout/")
    p.add_argument("--held", required=True, help="actors to hold out, e.g. 17-20")
    args = p.parse_args(argv)
    try:
        held = parse_actors(args.held)
    except ValueError:
        p.error(f"--held {args.held!r}: use numbers and ranges, e.g. 17-20 or 1,3,5")
    if not args.source.is_dir():
        p.error(f"not a folder: {args.source}")
    fit, heldout = split(args.source, args.out, held)
    if not fit + heldout:
        p.error(f"no RAVDESS-named audio under {args.source}")
    print(f"{fit} clips in {args.out / 'fit'}, {heldout} in {args.out / 'heldout'} (actors {sorted(held)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
