"""Dispatch `python -m training KIND ...` (and `emolive train KIND ...`) to training.KIND.main(argv)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from emolive.errors import EmoliveError

KINDS = ("face", "voice", "text", "fusion")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in KINDS:
        print(f"usage: python -m training {{{','.join(KINDS)}}} [options]   (KIND --help for its options)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        module = importlib.import_module(f"training.{argv[0]}")
    except ModuleNotFoundError as exc:
        print(f"training: the {argv[0]} trainer is not available: {exc}", file=sys.stderr)
        return 2
    try:
        return int(module.main(argv[1:]) or 0)
    except EmoliveError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("training: interrupted (the last finished epoch is in OUT/last.pt; run again to resume)",
              file=sys.stderr)
        return 130
