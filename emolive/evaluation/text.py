"""Evaluate the text model on a MELD-format CSV (Utterance, Emotion, Sentiment[, Dialogue_ID, Utterance_ID])."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.text.channel import TextChannel
from emolive.text.data import load_meld_csv, previous_utterances

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="MELD-format CSV")
    parser.add_argument("--model", type=Path, default=None, help="text model folder (default: assets/text)")
    parser.add_argument("--no-context", action="store_true",
                        help="ignore the dialogue context even when the CSV has Dialogue_ID/Utterance_ID")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.metrics import classification_report, format_report

    rows = load_meld_csv(args.data)
    channel = TextChannel(args.model, threads=args.threads)
    contexts = None
    if not args.no_context and channel.n_context > 0:
        contexts = previous_utterances(rows, channel.n_context)
    emotion, sentiment = channel.predict_batch([r.text for r in rows], contexts)
    empty = sum(1 for r in rows if not r.text)
    keep = [i for i, r in enumerate(rows) if r.text]
    skipped = {"empty text": empty} if empty else {}
    emo = classification_report([rows[i].emotion for i in keep], emotion[keep].argmax(1), EMOTIONS, skipped)
    sen = classification_report([rows[i].sentiment for i in keep], sentiment[keep].argmax(1), SENTIMENTS, skipped)
    if args.json:
        print(json.dumps({"emotion": emo, "sentiment": sen}))
    else:
        print(format_report(emo, f"emotion ({args.data})"))
        print()
        print(format_report(sen, f"sentiment ({args.data})"))
    return 0
