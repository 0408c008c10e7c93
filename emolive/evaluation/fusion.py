"""Fusion check on composite samples: each channel alone, fused, and fused with each modality removed.

A composite pairs a face image, a voice clip and an utterance with the same emotion label, drawn from
separate single-modality data sets. This is an engineering check of the fusion logic, not a claim about
real conversations, where the channels disagree for real reasons. By default it draws from the held-out
half of each pool (split by speaker/dialogue), the half `python -m training fusion` did not fit on.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--face", type=Path, required=True, help="labelled face crops (image folder)")
    parser.add_argument("--voice", type=Path, required=True, help="labelled speech (RAVDESS tree or class folders)")
    parser.add_argument("--text", type=Path, required=True, help="MELD-format CSV")
    parser.add_argument("--face-model", type=Path, help="face model folder (default: the bundled one)")
    parser.add_argument("--voice-model", type=Path,
                        help="voice model folder (default: the bundled one); it must not have trained on --voice")
    parser.add_argument("--text-model", type=Path, help="text model folder (default: the bundled one)")
    parser.add_argument("--n", type=int, default=5000, help="composite samples (default 5000)")
    parser.add_argument("--fusion-model", type=Path, help="late-fusion folder (default assets/fusion)")
    parser.add_argument("--all", action="store_true", help="draw from whole pools, not the held-out half")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emolive" / "pools")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    import json

    from emolive.evaluation.composite import draw, face_pool, text_pool, voice_pool
    from emolive.evaluation.metrics import classification_report
    from emolive.fusion.fuser import Fuser
    from emolive.fusion.late import MODALITIES
    from emolive.labels import EMOTIONS
    from training.fusion import fused_predictions

    pools = {"face": face_pool(args.face, args.face_model, cache=args.cache),
             "voice": voice_pool(args.voice, args.voice_model, cache=args.cache),
             "text": text_pool(args.text, args.text_model, cache=args.cache)}
    if not args.all:
        pools = {m: p.split(0.5, 0)[1] for m, p in pools.items()}
    x, trust, y = draw(pools, args.n, seed=args.seed)
    model = Fuser.from_dir(args.fusion_model).model
    rows: dict[str, dict] = {}
    for j, modality in enumerate(MODALITIES):
        rows[f"{modality} only"] = classification_report(y, x[:, j].argmax(axis=1), EMOTIONS)
    rows["fused"] = classification_report(y, fused_predictions(model, x, trust), EMOTIONS)
    for j, modality in enumerate(MODALITIES):
        t = trust.copy()
        t[:, j] = 0.0
        rows[f"fused without {modality}"] = classification_report(y, fused_predictions(model, x, t), EMOTIONS)
    if args.json:
        print(json.dumps({name: {k: r[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
                          for name, r in rows.items()}))
        return 0
    print(f"{args.n} composite samples ({'whole pools' if args.all else 'held-out halves'}); "
          "an engineering check of fusion, not real conversations")
    print(f"{'':<24}{'accuracy':>10}{'macro F1':>10}")
    for name, r in rows.items():
        print(f"{name:<24}{r['accuracy']:>10.4f}{r['macro_f1']:>10.4f}")
    best_single = max(rows[f"{m} only"]["macro_f1"] for m in MODALITIES)
    print(f"fused - best single channel: {rows['fused']['macro_f1'] - best_single:+.4f} macro F1")
    return 0
