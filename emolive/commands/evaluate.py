"""Evaluate one channel (face, voice, text), the words' valence/arousal (va), the transcriber (asr), the fusion,
a labelled A/V clip (clip) or a folder of clips with one label each (clips) on labelled data."""

from __future__ import annotations

import argparse
import importlib

from emolive.commands.helptext import Formatter, add_verbose, plain, summary

# kind -> module in emolive.evaluation with configure(parser) and run(args) -> int
KINDS: dict[str, str] = {
    "face": "emolive.evaluation.face",
    "voice": "emolive.evaluation.voice",
    "text": "emolive.evaluation.text",
    "va": "emolive.evaluation.va",
    "asr": "emolive.evaluation.asr",
    "fusion": "emolive.evaluation.fusion",
    "clip": "emolive.evaluation.clip",
    "clips": "emolive.evaluation.clips",
    "identity": "emolive.evaluation.identity",
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, module_name in KINDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        child = sub.add_parser(kind, help=summary(module.__doc__), description=plain(module.__doc__),
                               formatter_class=Formatter)
        module.configure(child)
        add_verbose(child)
        child.add_argument("--json", action="store_true", help="print one JSON object")
        child.set_defaults(_eval_module=module_name)


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(args._eval_module).run(args) or 0)
