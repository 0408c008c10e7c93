"""Train or fine-tune a model: `emolive train KIND [options]` (same as `python -m training KIND`)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=("face", "voice", "text", "fusion"), help="which model")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of that trainer (KIND --help)")


def run(args: argparse.Namespace) -> int:
    from training.cli import main

    return main([args.kind, *args.options])
